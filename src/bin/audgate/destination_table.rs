//! The compiled `exchange` section in words, for `check-config` and `exchange`:
//! the token service, the client (never its secret), where the outbound token
//! is, what an unmatched destination gets, and one line per destination.

use audgate::exchange::destination::{Destination, HostName, Matcher};
use audgate::exchange::grant::{ClientAuth, Target};
use audgate::exchange::settings::{Exchange, Unmatched};

/// The section's settings, one line each; `secret_env` names the variable the
/// client secret is read from.
pub fn settings(exchange: &Exchange, secret_env: Option<&str>) -> Vec<String> {
    let mut lines = vec![
        format!(
            "token endpoint {} through cluster {}, timeout {} ms",
            exchange.endpoint.uri,
            exchange.endpoint.cluster,
            exchange.endpoint.timeout.as_millis()
        ),
        format!("client authentication {}", client(&exchange.client)),
    ];
    if let (ClientAuth::Basic { .. }, Some(name)) = (&exchange.client, secret_env) {
        lines.push(format!(
            "client secret read from the VM's environment variable {name} at start-up (not checked here)"
        ));
    }
    let places: Vec<String> = exchange
        .from_headers
        .iter()
        .map(|source| format!("{} (prefix {:?})", source.name, source.value_prefix))
        .collect();
    lines.push(format!(
        "outbound token from {}, sent as subject_token_type {}",
        places.join(", "),
        exchange.subject_token_type
    ));
    lines.push(format!(
        "unmatched {}: {}",
        exchange.unmatched.name(),
        unmatched(exchange.unmatched)
    ));
    lines.push(format!(
        "cache_size {}: exchanged tokens remembered per worker",
        exchange.cache_size
    ));
    lines
}

/// `client_secret_basic, client_id "orders"`, `tls_client_auth, …` or `none`.
pub fn client(auth: &ClientAuth) -> String {
    match auth {
        ClientAuth::None => "none (no client_id)".into(),
        ClientAuth::ClientId(id) => format!(
            "tls_client_auth, client_id {id:?} (the cluster's TLS client certificate authenticates it)"
        ),
        ClientAuth::Basic { client_id, .. } => format!("client_secret_basic, client_id {client_id:?}"),
    }
}

/// What the filter does with a token bound for a destination no entry matches.
pub fn unmatched(unmatched: Unmatched) -> &'static str {
    match unmatched {
        Unmatched::Remove => "the filter removes the token and the request goes on without it",
        Unmatched::Refuse => "the filter refuses the request, 403 (reason exchange_unmatched)",
        Unmatched::Forward => "the filter passes the token on as it is (an explicit opt-out)",
    }
}

/// One line of the destination table: `destination 0: hosts [...], prefix /,
/// audience "payments", requires_token false`.
pub fn row(index: usize, destination: &Destination) -> String {
    format!(
        "destination {index}: {}, {}, requires_token {}",
        place(destination),
        asks(&destination.target()),
        destination.requires_token
    )
}

/// What picks the destination: `hosts ["a", "b:8443"], prefix /` or
/// `clusters ["outbound|8080||ledger"], prefix /api/`.
pub fn place(destination: &Destination) -> String {
    let names: Vec<String> = match &destination.matcher {
        Matcher::Hosts(hosts) => hosts.iter().map(host).collect(),
        Matcher::Clusters(clusters) => clusters.clone(),
    };
    let kind = match destination.matcher {
        Matcher::Hosts(_) => "hosts",
        Matcher::Clusters(_) => "clusters",
    };
    format!("{kind} {names:?}, prefix {}", destination.prefix)
}

/// What the exchanged token is asked for: `audience "payments", scope "pay:read"`.
pub fn asks(target: &Target<'_>) -> String {
    let parts: Vec<String> = [
        ("audience", target.audience),
        ("resource", target.resource),
        ("scope", target.scope),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(format!("{name} {:?}", value?)))
    .collect();
    parts.join(", ")
}

/// `name`, `name:port`, `[v6]:port`.
fn host(entry: &HostName) -> String {
    let name = if entry.name.contains(':') {
        format!("[{}]", entry.name)
    } else {
        entry.name.clone()
    };
    match entry.port {
        Some(port) => format!("{name}:{port}"),
        None => name,
    }
}
