//! The `introspection` target: the input as an introspection endpoint's answer
//! (its first byte picks the status, the rest is the body), judged as the filter
//! judges it, kept as long as the filter would keep it, and, when active,
//! decided under one fixed provider; the verdict is checked against the rules of
//! docs/configuration.md ("Opaque tokens"), not against audgate's code.

use audgate::config::Config;
use audgate::decision::{decide, LocalKeys, Verifier};
use audgate::keys::introspection::answer::{
    judge, Inactive, Introspected, IntrospectionFailure, MAX_ANSWER_BYTES,
};
use audgate::keys::introspection::landing::land;
use audgate::keys::introspection::lifetime::Reuse;
use audgate::keys::introspection::vouched::{OneAnswer, Vouched};
use audgate::keys::verify::RustCrypto;
use audgate::request::Request;
use serde_json::{json, Map, Value};

/// The statuses the first byte picks from (`None`: no answer at all).
const STATUSES: [Option<u32>; 9] = [
    Some(200),
    Some(200),
    Some(200),
    Some(400),
    Some(401),
    Some(403),
    Some(500),
    Some(504),
    None,
];
const NOW: i64 = 1_800_000_000;
const AUDIENCE: &str = "orders.svc";
const ISSUER: &str = "https://as.fuzz.test";
const TOKEN: &str = "opaque-fuzz-token";
const REUSE: Reuse = Reuse {
    active_s: 60,
    inactive_s: 5,
};

fn config() -> Config {
    let config = json!({"providers": [{
        "name": "as",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "introspection": {"uri": "https://as.fuzz.test/introspect", "cluster": "as",
                          "client_id": "fuzz"},
        "required_claims": {"scope": "orders:read"},
        "clock_skew_s": 0,
    }]});
    Config::from_json(config.to_string().as_bytes()).expect("the fuzz configuration")
}

/// `introspection`: never a panic; the judgement and the lifetime keep the
/// documented rules; an active answer passes only with this service's audience,
/// the provider's issuer (when it names one), an `exp` still ahead and the scope.
pub fn introspection(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(first) % STATUSES.len()];
    let judged = judge(status, body);
    check_judgement(status, body, &judged);
    let landed = land(status, body, REUSE, NOW);
    if let Some(until) = landed.keep_until {
        assert!(until > NOW, "kept an answer already lapsed");
        let most = match &landed.vouched {
            Vouched::Active(claims) => exp(claims).map_or(NOW + 60, |exp| exp.min(NOW + 60)),
            Vouched::Inactive(_) => NOW + 5,
            Vouched::Failed => panic!("kept a failure"),
        };
        assert!(until <= most, "kept {until}, at most {most}");
    }
    if let Ok(Introspected::Active(claims)) = judged {
        check_decision(&claims);
    }
}

/// `exp` in whole seconds, as docs/configuration.md reads a NumericDate (any
/// JSON number; a fraction cut).
fn exp(claims: &Map<String, Value>) -> Option<i64> {
    claims
        .get("exp")
        .and_then(Value::as_f64)
        .map(|exp| exp.floor() as i64)
}

fn check_judgement(
    status: Option<u32>,
    body: &[u8],
    judged: &Result<Introspected, IntrospectionFailure>,
) {
    let object: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    match judged {
        Ok(Introspected::Active(claims)) => {
            assert_eq!(status, Some(200), "active without a 200");
            assert!(body.len() <= MAX_ANSWER_BYTES, "took an oversized answer");
            assert_eq!(claims.get("active"), Some(&Value::Bool(true)));
            if let Some(object) = object {
                assert_eq!(&object, claims, "the claims are not the answer's members");
            }
        }
        Ok(Introspected::Inactive(Inactive::NotActive)) => {
            assert_eq!(status, Some(200));
            let active = object.as_ref().and_then(|o| o.get("active"));
            assert_eq!(
                active,
                Some(&Value::Bool(false)),
                "inactive without active: false"
            );
        }
        Ok(Introspected::Inactive(Inactive::UnsupportedTokenType)) => {
            assert_eq!(status, Some(400));
            let error = object.as_ref().and_then(|o| o.get("error"));
            assert_eq!(error, Some(&json!("unsupported_token_type")));
        }
        Err(failure) => {
            assert!(!failure.to_string().is_empty());
            // The strict reading may refuse what a lenient parser reads (a
            // repeated member); it never says `active` is missing when it is
            // there, a boolean.
            if status == Some(200) && *failure == IntrospectionFailure::NoActive {
                let active = object.as_ref().and_then(|o| o.get("active"));
                assert!(
                    !matches!(active, Some(Value::Bool(_))),
                    "a boolean active judged missing"
                );
            }
        }
    }
}

/// The decision on a bearer request with `TOKEN`, the answer `claims` at hand.
fn check_decision(claims: &Map<String, Value>) {
    let config = config();
    let headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":authority".to_owned(), AUDIENCE.to_owned()),
        (":path".to_owned(), "/orders/1".to_owned()),
        ("authorization".to_owned(), format!("Bearer {TOKEN}")),
    ];
    let request = Request::from_headers(&headers);
    let keys = LocalKeys(&config);
    let answer = OneAnswer {
        provider: 0,
        token: TOKEN,
        vouched: Vouched::Active(std::rc::Rc::new(claims.clone())),
    };
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: &answer,
        now: NOW,
    };
    let decision = decide(&config, &request, &verifier);
    if decision.verdict.is_err() {
        return;
    }
    let names_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(list)) => list.iter().any(|aud| aud == AUDIENCE),
        _ => false,
    };
    assert!(
        names_us,
        "passed without naming {AUDIENCE}: {:?}",
        claims.get("aud")
    );
    if let Some(iss) = claims.get("iss") {
        assert_eq!(iss, ISSUER, "passed with another issuer");
    }
    let exp = exp(claims).expect("passed without a numeric exp");
    assert!(NOW < exp, "passed an expired answer");
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        scope.split(' ').any(|word| word == "orders:read"),
        "passed without the scope: {scope:?}"
    );
    let bound = claims.get("cnf").and_then(|cnf| cnf.get("jkt")).is_some();
    assert!(!bound, "a DPoP-bound answer passed as a bearer token");
}
