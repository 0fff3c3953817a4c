//! Envoy stats after known traffic, read from `/stats/prometheus` with the labels
//! that envoy/envoy.yaml's `stats_tags` extract: every request counted once in
//! `audgate_requests_total{provider, outcome, reason}` (enforce and audit), two
//! providers whose names differ only in `-`/`_` kept apart, token-cache hits and
//! misses, one fetch series and one key-age gauge for a key set two providers
//! share, and none for local keys. The same labels come out of the stats_config
//! that Istio's bootstrap writes for the `extraStatTags` docs/configuration.md lists,
//! the exchange's `destination` among them.
//! Also: plain `/stats` shows the tagged names; refusal log lines carry kid, iss, aud.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::cases::{claims, AUDIENCE, ISSUER};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, TestKey};
use crate::support::{envoy_yaml, http, Envoy, Upstream};
use serde_json::{json, Value};

/// The audgate series families, as Prometheus names them (the exchange's only
/// with `exchange`).
const FAMILIES: [&str; 5] = [
    "audgate_requests_total",
    "audgate_token_cache_total",
    "audgate_jwks_fetches_total",
    "audgate_jwks_age_seconds",
    "audgate_exchanges_total",
];

/// Every reason a refusal can count under (src/rejection.rs `Rejection::CODES`),
/// the exchange's outbound reasons included: each is defined for every provider.
const REASONS: [&str; 21] = [
    "missing",
    "malformed",
    "signature",
    "audience",
    "issuer",
    "expired",
    "not_yet_valid",
    "type",
    "caller",
    "claims",
    "keys_unavailable",
    "host_failure",
    "exchange",
    "exchange_refused",
    "exchange_unmatched",
    "exchange_missing",
    "dpop",
    "dpop_nonce",
    "inactive",
    "introspection",
    "step_up",
];

const OTHER_ISSUER: &str = "https://issuer-b.test";

/// One sample of the Prometheus text output.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: u64,
}

/// Parses one sample line: `name{k="v",...} value` (Envoy escapes `\`, `"` and
/// newlines in label values).
fn sample(line: &str) -> Option<Sample> {
    let (name, rest) = line.split_once('{')?;
    let (inner, value) = rest.rsplit_once('}')?;
    let value = value.trim().parse().ok()?;
    let mut labels = BTreeMap::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut text = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => text.push('\n'),
                    c => text.push(c),
                },
                '"' => break,
                c => text.push(c),
            }
        }
        labels.insert(key, text);
        match chars.next() {
            None | Some(',') => {}
            Some(_) => return None,
        }
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Every sample of `/stats/prometheus` whose name starts with `audgate`.
fn samples_of(body: &str) -> Vec<Sample> {
    body.lines()
        .filter(|line| line.starts_with("audgate"))
        .map(|line| sample(line).unwrap_or_else(|| panic!("unparsed sample: {line}")))
        .collect()
}

/// The samples once `audgate_requests_total` sums to `sent` and `ready` holds:
/// audgate adds its counts to Envoy's stats on its tick (every 100 ms).
fn prometheus_when(envoy: &Envoy, sent: u64, ready: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let body = envoy.admin_until("/stats/prometheus", |body| {
        let samples = samples_of(body);
        let requests = family(&samples, "audgate_requests_total");
        requests.iter().map(|s| s.value).sum::<u64>() == sent && ready(&samples)
    });
    samples_of(&body)
}

/// The samples once `audgate_requests_total` sums to `sent`.
fn prometheus(envoy: &Envoy, sent: u64) -> Vec<Sample> {
    prometheus_when(envoy, sent, |_| true)
}

fn family<'s>(samples: &'s [Sample], name: &str) -> Vec<&'s Sample> {
    samples.iter().filter(|s| s.name == name).collect()
}

/// The value of the one sample of `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && s.labels == wanted)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} twice: {found:?}");
    found.first().map(|s| s.value)
}

fn label_values(samples: &[&Sample], label: &str) -> BTreeSet<String> {
    samples
        .iter()
        .filter_map(|s| s.labels.get(label).cloned())
        .collect()
}

fn call(envoy: &Envoy, path: &str, token: Option<&str>) -> u16 {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    http::get(envoy.port(), path, &headers).status
}

/// `corp-idp` (RSA key, `ISSUER`) and `corp_idp` (EC key, `OTHER_ISSUER`), both
/// local keys; `/health` needs no token; everything else any of the two.
fn two_providers(mode: &str) -> Value {
    json!({
        "mode": mode,
        "providers": [
            {"name": "corp-idp", "issuer": ISSUER, "audiences": [AUDIENCE],
             "local_jwks": keys::jwks(&[TestKey::Rsa1])},
            {"name": "corp_idp", "issuer": OTHER_ISSUER, "audiences": [AUDIENCE],
             "local_jwks": keys::jwks(&[TestKey::Ec256])},
        ],
        "rules": [{"match": {"prefix": "/health"}, "requires": "none"}],
    })
}

fn corp_dash(extra: Value) -> String {
    keys::sign_default(TestKey::Rsa1, claims(extra))
}

fn corp_underscore(extra: Value) -> String {
    let extra = keys::merged(json!({"iss": OTHER_ISSUER}), &extra);
    keys::sign_default(TestKey::Ec256, claims(extra))
}

type Key = (&'static str, &'static str, &'static str);

/// Checks `audgate_requests_total` against `expected` (provider, outcome, reason →
/// count; every other combination 0), with `loose` reasons checked only as a sum
/// over providers; returns the family.
fn check_requests(
    samples: &[Sample],
    expected: &BTreeMap<Key, u64>,
    loose: &BTreeMap<&str, u64>,
    refusal: &str,
    sent: u64,
) {
    let requests = family(samples, "audgate_requests_total");
    let total: u64 = requests.iter().map(|s| s.value).sum();
    assert_eq!(total, sent, "sum over every label: {requests:#?}");
    for s in &requests {
        let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["outcome", "provider", "reason"], "{s:?}");
        let (outcome, reason) = (&s.labels["outcome"], &s.labels["reason"]);
        match outcome.as_str() {
            "allowed" => assert_eq!(reason, "none", "{s:?}"),
            o if o == refusal => assert!(REASONS.contains(&reason.as_str()), "{s:?}"),
            _ => panic!("outcome {outcome} in a {refusal} Envoy: {s:?}"),
        }
    }
    // every combination is defined, so each provider × reason is there (at 0)
    for provider in ["corp-idp", "corp_idp", "none"] {
        let allowed = [
            ("provider", provider),
            ("outcome", "allowed"),
            ("reason", "none"),
        ];
        assert!(value(samples, "audgate_requests_total", &allowed).is_some());
        for reason in REASONS {
            let labels = [
                ("provider", provider),
                ("outcome", refusal),
                ("reason", reason),
            ];
            let got = value(samples, "audgate_requests_total", &labels)
                .unwrap_or_else(|| panic!("no series {labels:?}"));
            if loose.contains_key(reason) {
                continue;
            }
            let want = expected.get(&(provider, refusal, reason)).copied();
            assert_eq!(got, want.unwrap_or(0), "{labels:?}");
        }
    }
    assert_eq!(requests.len(), 3 * (1 + REASONS.len()), "{requests:#?}");
    for ((provider, outcome, reason), want) in expected {
        let labels = [
            ("provider", *provider),
            ("outcome", outcome),
            ("reason", reason),
        ];
        assert_eq!(
            value(samples, "audgate_requests_total", &labels),
            Some(*want),
            "{labels:?}"
        );
    }
    for (reason, want) in loose {
        let got: u64 = requests
            .iter()
            .filter(|s| s.labels["reason"] == *reason)
            .map(|s| s.value)
            .sum();
        assert_eq!(got, *want, "reason {reason}, over every provider");
    }
    assert_eq!(
        label_values(&requests, "provider"),
        BTreeSet::from(["corp-idp".into(), "corp_idp".into(), "none".into()])
    );
}

#[test]
fn every_request_counts_once_by_provider_outcome_and_reason() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&two_providers("enforce"), upstream.port());
    let dash = corp_dash(json!({}));
    let underscore = corp_underscore(json!({}));
    let dash_payments = corp_dash(json!({"aud": "payments.svc"}));
    let underscore_expired = corp_underscore(json!({"exp": keys::now() - 3600}));
    let dash_unknown_kid = keys::sign_default(TestKey::Rsa2, claims(json!({})));
    let traffic: [(&str, Option<&str>, u16, usize); 8] = [
        ("/orders", Some(dash.as_str()), 200, 3),
        ("/orders", Some(underscore.as_str()), 200, 2),
        ("/orders", Some(dash_payments.as_str()), 403, 2),
        ("/orders", Some(underscore_expired.as_str()), 401, 1),
        ("/orders", Some(dash_unknown_kid.as_str()), 401, 1),
        ("/orders", Some("not-a-jwt"), 401, 1),
        ("/orders", None, 401, 2),
        ("/health", None, 200, 1),
    ];
    let mut sent = 0;
    for (path, token, status, times) in traffic {
        for _ in 0..times {
            assert_eq!(call(&envoy, path, token), status, "{path} {token:?}");
            sent += 1;
        }
    }
    let samples = prometheus(&envoy, sent);
    let expected: BTreeMap<Key, u64> = [
        (("corp-idp", "allowed", "none"), 3),
        (("corp_idp", "allowed", "none"), 2),
        (("corp-idp", "denied", "audience"), 2),
        (("corp_idp", "denied", "expired"), 1),
        (("corp-idp", "denied", "signature"), 1),
        (("none", "denied", "missing"), 2),
        (("none", "allowed", "none"), 1),
    ]
    .into();
    // an opaque token fails both providers alike: counted once, under one of them
    let loose = BTreeMap::from([("malformed", 1)]);
    check_requests(&samples, &expected, &loose, "denied", sent);

    // Token cache: per provider, only for requests a provider allowed.
    let cache = |provider: &str, result: &str| {
        let labels = [("provider", provider), ("result", result)];
        value(&samples, "audgate_token_cache_total", &labels)
    };
    assert_eq!(cache("corp-idp", "miss"), Some(1), "verified once");
    assert_eq!(cache("corp-idp", "hit"), Some(2), "then from the cache");
    assert_eq!(cache("corp_idp", "miss"), Some(1));
    assert_eq!(cache("corp_idp", "hit"), Some(1));
    let cached = family(&samples, "audgate_token_cache_total");
    assert_eq!(cached.len(), 4, "{cached:#?}");
    assert_eq!(cached.iter().map(|s| s.value).sum::<u64>(), 5);

    // Local keys only: no fetch or key-age series at all; nothing but the families.
    assert!(family(&samples, "audgate_jwks_fetches_total").is_empty());
    assert!(family(&samples, "audgate_jwks_age_seconds").is_empty());
    for s in &samples {
        assert!(
            FAMILIES.contains(&s.name.as_str()),
            "unexpected series {s:?}"
        );
    }
    let text = envoy.admin("/stats/prometheus").body;
    assert!(text.contains("# TYPE audgate_requests_total counter\n"));
    assert!(text.contains("# TYPE audgate_token_cache_total counter\n"));

    // Plain /stats shows the names with their tags in them.
    let plain = envoy.admin("/stats?filter=audgate_").body;
    for line in [
        "wasmcustom.provider=.=corp-idp;.;outcome=.=denied;.;reason=.=audience;.;audgate_requests_total: 2",
        "wasmcustom.provider=.=corp_idp;.;outcome=.=allowed;.;reason=.=none;.;audgate_requests_total: 2",
        "wasmcustom.provider=.=none;.;outcome=.=denied;.;reason=.=missing;.;audgate_requests_total: 2",
        "wasmcustom.provider=.=corp-idp;.;result=.=hit;.;audgate_token_cache_total: 2",
    ] {
        assert!(plain.lines().any(|l| l == line), "{line} in:\n{plain}");
    }

    // The refusal log line: kid, iss and aud, never the signature.
    assert!(envoy.wait_for_log("[audience]", Duration::from_secs(5)));
    let log = envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("audgate: rejected") && l.contains("[audience]"))
        .unwrap();
    assert!(line.contains("(corp-idp)"), "{line}");
    assert!(line.contains("kid=\"rsa-1\""), "{line}");
    assert!(line.contains(&format!("iss=\"{ISSUER}\"")), "{line}");
    assert!(line.contains("aud=[\"payments.svc\"]"), "{line}");
    let signature = dash_payments.rsplit('.').next().unwrap();
    assert!(!line.contains(signature), "the signature is logged: {line}");
}

#[test]
fn audit_mode_counts_would_be_refusals_as_would_deny() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&two_providers("audit"), upstream.port());
    let traffic = [
        Some(corp_dash(json!({"aud": "payments.svc"}))),
        Some(corp_dash(json!({"aud": "payments.svc"}))),
        Some(corp_underscore(json!({}))),
        Some(corp_underscore(json!({"nbf": keys::now() + 3600}))),
        None,
    ];
    for token in &traffic {
        assert_eq!(call(&envoy, "/orders", token.as_deref()), 200, "{token:?}");
    }
    let samples = prometheus(&envoy, traffic.len() as u64);
    let expected: BTreeMap<Key, u64> = [
        (("corp-idp", "would_deny", "audience"), 2),
        (("corp_idp", "allowed", "none"), 1),
        (("corp_idp", "would_deny", "not_yet_valid"), 1),
        (("none", "would_deny", "missing"), 1),
    ]
    .into();
    check_requests(
        &samples,
        &expected,
        &BTreeMap::new(),
        "would_deny",
        traffic.len() as u64,
    );
}

#[test]
fn fetches_and_key_age_per_remote_key_set_not_per_provider() {
    let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    let upstream = Upstream::start();
    let remote = json!({"uri": "http://idp.test/jwks", "cluster": "jwks", "cache_duration_s": 300});
    let config = json!({"providers": [
        {"name": "idp-a", "issuer": ISSUER, "audiences": [AUDIENCE], "remote_jwks": remote},
        {"name": "idp-b", "issuer": OTHER_ISSUER, "audiences": [AUDIENCE], "remote_jwks": remote},
        {"name": "local-idp", "issuer": "https://local.test", "audiences": [AUDIENCE],
         "local_jwks": keys::jwks(&[TestKey::Ec256])},
    ]});
    let envoy = Envoy::builder(&config, upstream.port())
        .jwks_port(jwks.port())
        .start();
    let a = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let b = keys::sign_default(TestKey::Rsa1, claims(json!({"iss": OTHER_ISSUER})));
    assert_eq!(call(&envoy, "/", Some(&a)), 200);
    assert_eq!(
        call(&envoy, "/", Some(&b)),
        200,
        "the same keys serve idp-b"
    );
    jwks.serve_raw(500, "down");
    // an unknown kid asks for a refetch, which fails
    let unknown = keys::sign_default(TestKey::Rsa2, claims(json!({})));
    assert_eq!(call(&envoy, "/", Some(&unknown)), 401);
    std::thread::sleep(Duration::from_millis(1500));

    let fetched = jwks.fetches() as u64;
    let samples = prometheus_when(&envoy, 3, |samples| {
        let fetches = family(samples, "audgate_jwks_fetches_total");
        fetches.iter().map(|s| s.value).sum::<u64>() == fetched
    });
    let fetches = family(&samples, "audgate_jwks_fetches_total");
    let fetched = |result: &str| {
        let labels = [("jwks", "idp-a"), ("result", result)];
        value(&samples, "audgate_jwks_fetches_total", &labels)
    };
    assert_eq!(fetched("success"), Some(1), "{fetches:#?}");
    assert_eq!(fetched("failure"), Some(1), "{fetches:#?}");
    assert_eq!(fetches.len(), 2, "one key set, one series: {fetches:#?}");
    let counted: u64 = fetches.iter().map(|s| s.value).sum();
    assert_eq!(counted, jwks.fetches() as u64, "what the key server saw");

    let ages = family(&samples, "audgate_jwks_age_seconds");
    assert_eq!(
        ages.len(),
        1,
        "one gauge, for the remote set only: {ages:#?}"
    );
    assert_eq!(
        ages[0].labels,
        BTreeMap::from([("jwks".into(), "idp-a".into())])
    );
    assert!((1..10).contains(&ages[0].value), "key set age {ages:?}");

    let providers = label_values(&family(&samples, "audgate_requests_total"), "provider");
    assert_eq!(
        providers,
        BTreeSet::from([
            "idp-a".into(),
            "idp-b".into(),
            "local-idp".into(),
            "none".into()
        ])
    );
    let allowed = |provider: &str| {
        let labels = [
            ("provider", provider),
            ("outcome", "allowed"),
            ("reason", "none"),
        ];
        value(&samples, "audgate_requests_total", &labels)
    };
    assert_eq!((allowed("idp-a"), allowed("idp-b")), (Some(1), Some(1)));
}

/// The tag names the Istio snippet of docs/configuration.md's "Stats" section lists
/// under `extraStatTags`, in each snippet that has them.
fn documented_extra_stat_tags() -> Vec<Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let docs = std::fs::read_to_string(path).unwrap();
    let start = docs.find("\n## Stats\n").expect("a Stats section");
    let section = &docs[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    section
        .lines()
        .filter_map(|line| line.trim().strip_prefix("extraStatTags: ["))
        .map(|list| {
            let list = list.strip_suffix(']').expect("a flow list on one line");
            list.split(',').map(|t| t.trim().to_owned()).collect()
        })
        .collect()
}

/// envoy/envoy.yaml with its `stats_config` block replaced by what Istio's
/// bootstrap template writes (tools/packaging/common/envoy_bootstrap.json): no
/// default tags, its own tag regexes, one `(tag=\.=(.*?);\.;)` per extraStatTags
/// entry, and its stats matcher with the prefixes it always includes.
fn istio_like_template(tags: &[String]) -> String {
    let template = envoy_yaml::template();
    let start = template
        .find("\nstats_config:\n")
        .expect("a stats_config block")
        + 1;
    let mut len = 0;
    for (i, line) in template[start..].split_inclusive('\n').enumerate() {
        if i > 0 && !line.starts_with(' ') {
            break;
        }
        len += line.len();
    }
    let mut block = String::from("stats_config:\n  use_all_default_tags: false\n  stats_tags:\n");
    let tag = |name: &str, regex: &str| format!("  - tag_name: {name}\n    regex: '{regex}'\n");
    block += &tag("response_code", r"_rq(_(\d{3}))$");
    for name in tags {
        block += &tag(name, &format!(r"({name}=\.=(.*?);\.;)"));
    }
    block += &tag("cache", r"(cache\.(.+?)\.)");
    block += &tag("component", r"(component\.(.+?)\.)");
    block += &tag("tag", r"(tag\.(.+?);\.)");
    block += &tag("wasm_filter", r"(wasm_filter\.(.+?)\.)");
    block += &tag("authz_enforce_result", r"rbac(\.(allowed|denied))");
    block += "  stats_matcher:\n    inclusion_list:\n      patterns:\n";
    for prefix in [
        "reporter=",
        "cluster_manager",
        "listener_manager",
        "server",
        "cluster.xds-grpc",
        "wasm",
        "component",
        "istio",
    ] {
        block += &format!("      - prefix: \"{prefix}\"\n");
    }
    format!("{}{block}{}", &template[..start], &template[start + len..])
}

#[test]
fn istio_extra_stat_tags_in_the_docs_give_the_same_labels() {
    let documented = documented_extra_stat_tags();
    assert_eq!(documented.len(), 2, "mesh-wide and per-pod snippets");
    for tags in &documented {
        let names: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from([
                "provider",
                "jwks",
                "outcome",
                "reason",
                "result",
                "destination"
            ]),
            "{tags:?}"
        );
    }
    let template = istio_like_template(&documented[0]);
    assert!(
        !template.contains("(?:outcome|result)"),
        "envoy.yaml's tags replaced"
    );
    let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    let upstream = Upstream::start();
    let config = json!({"providers": [
        {"name": "corp-idp", "issuer": ISSUER, "audiences": [AUDIENCE],
         "remote_jwks": {"uri": "http://idp.test/jwks", "cluster": "jwks"}},
        {"name": "corp_idp", "issuer": OTHER_ISSUER, "audiences": [AUDIENCE],
         "local_jwks": keys::jwks(&[TestKey::Ec256])},
    ], "rules": [
        {"match": {"prefix": "/a"}, "requires": "corp-idp"},
        {"match": {"prefix": "/b"}, "requires": "corp_idp"},
    ], "exchange": {
        // A destination named by an Istio cluster; the routes here go elsewhere,
        // so the verified tokens are removed and counted `unmatched`.
        "token_endpoint": "http://sts.test/token", "cluster": "jwks",
        "destinations": [{"clusters": [ISTIO_CLUSTER], "audience": "payments.shop.svc"}],
    }});
    let envoy = Envoy::builder(&config, upstream.port())
        .jwks_port(jwks.port())
        .template(&template)
        .start();
    let good = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    assert_eq!(call(&envoy, "/a", Some(&good)), 200);
    assert_eq!(call(&envoy, "/b", Some(&corp_underscore(json!({})))), 200);
    assert_eq!(call(&envoy, "/", None), 401);
    let samples = prometheus(&envoy, 3);
    for s in &samples {
        assert!(FAMILIES.contains(&s.name.as_str()), "unextracted {s:?}");
    }
    let requests = |provider: &str, outcome: &str, reason: &str| {
        let labels = [
            ("provider", provider),
            ("outcome", outcome),
            ("reason", reason),
        ];
        value(&samples, "audgate_requests_total", &labels)
    };
    assert_eq!(requests("corp-idp", "allowed", "none"), Some(1));
    assert_eq!(requests("corp_idp", "allowed", "none"), Some(1));
    assert_eq!(requests("none", "denied", "missing"), Some(1));
    let sent: u64 = family(&samples, "audgate_requests_total")
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(sent, 3);
    let cache = [("provider", "corp-idp"), ("result", "miss")];
    assert_eq!(
        value(&samples, "audgate_token_cache_total", &cache),
        Some(1)
    );
    let fetch = [("jwks", "corp-idp"), ("result", "success")];
    assert_eq!(
        value(&samples, "audgate_jwks_fetches_total", &fetch),
        Some(1)
    );
    let age = [("jwks", "corp-idp")];
    assert!(value(&samples, "audgate_jwks_age_seconds", &age).is_some());
    let exchanges = |destination: &str, result: &str| {
        let labels = [("destination", destination), ("result", result)];
        value(&samples, "audgate_exchanges_total", &labels)
    };
    assert_eq!(exchanges("none", "unmatched"), Some(2));
    for result in ["cache_hit", "exchanged", "refused", "failed"] {
        assert_eq!(exchanges(ISTIO_CLUSTER, result), Some(0), "{result}");
    }
    assert_eq!(family(&samples, "audgate_exchanges_total").len(), 5);
}

/// An Istio cluster name as a destination: `|` stays inside one label value.
const ISTIO_CLUSTER: &str = "outbound|8080||payments.shop.svc.cluster.local";

#[test]
fn the_sample_parser_reads_labels_and_values() {
    let parsed =
        sample(r#"audgate_requests_total{provider="a.b-c_d",outcome="denied",reason="x\"y"} 3"#);
    let labels = BTreeMap::from([
        ("provider".to_owned(), "a.b-c_d".to_owned()),
        ("outcome".to_owned(), "denied".to_owned()),
        ("reason".to_owned(), "x\"y".to_owned()),
    ]);
    assert_eq!(
        parsed,
        Some(Sample {
            name: "audgate_requests_total".into(),
            labels,
            value: 3
        })
    );
    let bare = sample("audgate_x{} 7").unwrap();
    assert!(bare.labels.is_empty());
    assert_eq!(bare.value, 7);
    assert_eq!(sample("audgate_x 7"), None, "Envoy always writes braces");
}
