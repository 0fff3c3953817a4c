//! audgate's series in Envoy's `/stats/prometheus`, as the stats tests and the
//! soak read them. audgate counts in its VM's memory and adds the counts to
//! Envoy's counters on each 100 ms tick, so they trail the answers briefly: read
//! them once [`all_counted`] holds.

use std::collections::BTreeMap;

/// Every `audgate` series of a `/stats/prometheus` body, keyed as Prometheus
/// prints it, e.g.
/// `audgate_requests_total{provider="corp",outcome="allowed",reason="none"}`.
pub fn audgate_series(body: &str) -> BTreeMap<String, u64> {
    body.lines()
        .filter(|line| line.starts_with("audgate"))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of the `audgate_requests_total` series: every request counts once.
pub fn requests_total(series: &BTreeMap<String, u64>) -> u64 {
    series
        .iter()
        .filter(|(name, _)| name.starts_with("audgate_requests_total"))
        .map(|(_, n)| n)
        .sum()
}

/// Whether the request series of `body` count every one of `answered` requests
/// (every request the proxy answered, probes and warm-ups included).
pub fn all_counted(body: &str, answered: u64) -> bool {
    requests_total(&audgate_series(body)) >= answered
}

/// The series, one `name value` a line, for a report.
pub fn table(series: &BTreeMap<String, u64>) -> String {
    series
        .iter()
        .map(|(name, n)| format!("  {name} {n}\n"))
        .collect()
}
