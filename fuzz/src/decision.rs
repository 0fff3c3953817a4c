//! The `decision` target: the whole request decision under one fixed config, for
//! requests built from the input bytes (`RequestSpec::read`, `input.rs`), against
//! oracles written from docs/configuration.md ("Rule", "Provider") and not from
//! src/request_path.rs or src/policy.rs (`oracle/`): the most permissive upstream
//! reading of a path (`upstream_reading`), first-match rule matching
//! (`rule_for`), header-name spelling (`same_spelling`). See fuzz/README.md,
//! `decision`.
//!
//! Here: the config, the fixture and its self-check, the entry function. Beside
//! it, in `decision/`: `case.rs`, the request a spec describes and what the
//! oracles need to know of it; `check.rs`, the invariants (a), (b), (c) and (e);
//! `fast_path.rs`, (d); `seeds.rs`, the seed requests and the dictionary.

mod case;
mod check;
mod fast_path;
mod seeds;

pub use seeds::{decision_dictionary, decision_seed_specs, decision_seeds};

use std::sync::OnceLock;

use audgate::config::Config;
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::verify::RustCrypto;
use audgate::request::header_map::{serialize, HeaderMap};
use audgate::request::Request;
use serde_json::Value;

use super::fixture::{fixture, owned, AUTHORITY, TOKEN_CONFIG};
use super::input::RequestSpec;
use super::oracle::policy::{self, read_oracle, OracleProvider, OracleRule};
use case::Case;

/// The decision target's plugin configuration: the token target's keys and issuer
/// (fuzz/fixtures/token_config.json) behind two providers, so that the valid seed
/// tokens verify (all of them for `corp`, those for `https://orders.example/` for
/// `partner`), and one rule of each kind the policy knows.
pub fn decision_config() -> Value {
    let token: Value =
        serde_json::from_str(TOKEN_CONFIG).expect("fuzz/fixtures/token_config.json is JSON");
    let base = &token["providers"][0];
    serde_json::json!({
        "providers": [
            {
                "name": "corp",
                "issuer": base["issuer"],
                "audiences": base["audiences"],
                "local_jwks": base["local_jwks"],
                "from_headers": [
                    {"name": "authorization", "value_prefix": "Bearer "},
                    {"name": "x-token"}
                ],
                "from_params": ["access_token"],
                "from_cookies": ["session"],
                "forward_payload_header": "x-jwt-payload",
                "claim_to_headers": [
                    {"claim": "sub", "header": "x_user"},
                    {"claim": "iat", "header": "x-issued-at"}
                ]
            },
            {
                "name": "partner",
                "issuer": base["issuer"],
                "audiences": ["https://orders.example/"],
                "local_jwks": base["local_jwks"],
                "from_headers": [{"name": "x-partner-token"}],
                "from_cookies": ["partner"],
                "forward_payload_header": "x-partner-payload"
            }
        ],
        "rules": [
            {"match": {"path": "/healthz"}, "requires": "none"},
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/docs"}, "requires": "corp", "allow_missing": true},
            {"match": {"path": "/orders/export"}, "requires": {"all": ["corp", "partner"]}},
            {"match": {"prefix": "/orders", "methods": ["POST", "DELETE"]}, "requires": "partner"},
            {"match": {"prefix": "/orders"}, "requires": "corp"},
            {"match": {"prefix": "/beta"}, "requires": {"any": ["corp", "partner"]}, "allow_missing": true},
            {"match": {"prefix": "/admin", "methods": ["GET"]}, "requires": {"any": ["corp", "partner"]}}
        ]
    })
}

/// The fixed world of the `decision` target.
pub struct DecisionFixture {
    config: Config,
    rules: Vec<OracleRule>,
    providers: Vec<OracleProvider>,
    /// Every output header as configured, and `x-audgate-would-reject`.
    outputs: Vec<String>,
    /// The valid seed tokens.
    valid: Vec<String>,
    /// Tokens no fixture key signed, made from the valid ones.
    forged: Vec<String>,
    /// `vouches[token][provider]`: the valid token verifies for the provider.
    vouches: Vec<Vec<bool>>,
    now: i64,
}

/// The decision fixture, built once; it panics if the config or the valid tokens
/// do not behave as the oracles assume (then the harness, not the input, is broken).
pub fn decision_fixture() -> &'static DecisionFixture {
    static FIXTURE: OnceLock<DecisionFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let json = decision_config();
        let config = Config::from_json(json.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("the decision config does not validate: {e}"));
        let (providers, rules) = read_oracle(&json);
        let mut outputs = vec!["x-audgate-would-reject".to_owned()];
        outputs.extend(providers.iter().flat_map(|p| p.outputs.iter().cloned()));
        let token = fixture();
        let valid = token.valid_tokens.clone();
        assert!(valid.len() >= 2 && valid.len() <= 128, "valid seed tokens");
        let vouches: Vec<Vec<bool>> = valid
            .iter()
            .map(|t| policy::vouches(&providers, t))
            .collect();
        let parts = |t: &str| -> Vec<String> { t.split('.').map(str::to_owned).collect() };
        let (v0, v1) = (parts(&valid[0]), parts(&valid[1]));
        let partner_payload = valid
            .iter()
            .zip(&vouches)
            .find(|(_, v)| v[1])
            .map(|(t, _)| parts(t)[1].clone())
            .expect("a valid token for partner");
        let mut flipped = valid[0].clone();
        flipped.replace_range(..1, "f");
        let forged = vec![
            String::new(),
            "a.b.c".to_owned(),
            // header.payload of one valid token, the signature of another
            format!("{}.{}.{}", v0[0], v0[1], v1[2]),
            // one character short
            valid[0][..valid[0].len() - 1].to_owned(),
            // alg none
            format!("eyJhbGciOiJub25lIn0.{}.", v0[1]),
            // another valid token's payload under this one's signature
            format!("{}.{}.{}", v0[0], partner_payload, v0[2]),
            flipped,
        ];
        let fx = DecisionFixture {
            config,
            rules,
            providers,
            outputs,
            valid,
            forged,
            vouches,
            now: token.now,
        };
        fx.self_check();
        fx
    })
}

impl DecisionFixture {
    fn decide(&self, method: &str, path: &str, headers: &[(String, String)]) -> Decision {
        let request = Request {
            method,
            path,
            authority: AUTHORITY,
            headers,
        };
        let keys = LocalKeys(&self.config);
        let verifier = Verifier {
            keys: &keys,
            signatures: &RustCrypto,
            cache: None,
            introspections: &audgate::keys::introspection::vouched::NoIntrospections,
            now: self.now,
        };
        decide(&self.config, &request, &verifier)
    }

    /// Before any input: the config and tokens behave as the oracles assume.
    fn self_check(&self) {
        let get = |path: &str, headers: &[(&str, &str)]| self.decide("GET", path, &owned(headers));
        let post =
            |path: &str, headers: &[(&str, &str)]| self.decide("POST", path, &owned(headers));
        let broken = |what: String| -> ! {
            panic!(
                "decision fixture broken: {what}; regenerate with `cargo run --example fuzz_seeds`"
            )
        };
        assert!(
            self.vouches.iter().any(|v| v[1]),
            "no valid token for partner"
        );
        assert!(
            self.vouches.iter().any(|v| !v[1]),
            "every valid token is partner's"
        );
        for (t, token) in self.valid.iter().enumerate() {
            assert!(self.vouches[t][0], "a valid token that corp does not take");
            let bearer = format!("Bearer {token}");
            for decision in [
                get("/orders/1", &[("authorization", &bearer)]),
                get("/orders/1", &[("x-token", token)]),
                get(&format!("/orders/1?access_token={token}"), &[]),
                get("/orders/1", &[("cookie", &format!("session={token}"))]),
            ] {
                if decision.verdict.is_err() || decision.provider != Some(0) {
                    broken(format!("valid#{t} does not pass for corp: {decision:?}"));
                }
            }
            let decision = post("/orders/1", &[("x-partner-token", token)]);
            if decision.verdict.is_ok() != self.vouches[t][1] {
                broken(format!("valid#{t} for partner: {decision:?}"));
            }
        }
        for (f, token) in self.forged.iter().enumerate() {
            let bearer = format!("Bearer {token}");
            for decision in [
                get("/orders/1", &[("authorization", &bearer)]),
                post("/orders/1", &[("x-partner-token", token)]),
                get("/docs", &[("authorization", &bearer)]),
            ] {
                if decision.verdict.is_ok() {
                    broken(format!("forged#{f} passes: {decision:?}"));
                }
            }
            if self.valid.iter().any(|v| token.contains(v.as_str())) {
                broken(format!("forged#{f} holds a valid token"));
            }
        }
        for path in ["/healthz", "/public/x", "/docs", "/beta/x"] {
            if get(path, &[]).verdict.is_err() {
                broken(format!("{path} needs a token"));
            }
        }
        for path in [
            "/",
            "/healthz/",
            "/HEALTHZ",
            "/Public/x",
            "/DOCS",
            "/orders",
            "/admin",
            "/docs;x",
        ] {
            if get(path, &[]).verdict.is_ok() {
                broken(format!("{path} passes without a token"));
            }
        }
        // A token for corp alone cannot reach what needs partner too, however
        // the path is spelled (docs: "Path spellings").
        let corp_only = self
            .vouches
            .iter()
            .position(|v| !v[1])
            .map(|t| format!("Bearer {}", self.valid[t]))
            .unwrap_or_default();
        let delete =
            |path: &str| self.decide("DELETE", path, &owned(&[("authorization", &corp_only)]));
        for decision in [
            get("/orders/export", &[("authorization", &corp_only)]),
            get("/Orders/EXPORT", &[("authorization", &corp_only)]),
            get("/orders/export/", &[("authorization", &corp_only)]),
            get("/orders%2Fexport", &[("authorization", &corp_only)]),
            delete("/Orders/1"),
        ] {
            if decision.verdict.is_ok() {
                broken(format!(
                    "a corp-only token passes where partner is needed: {decision:?}"
                ));
            }
        }
        // The fast path answers the plain cache hits (else check (d) is vacuous).
        let plain = |method: &'static str, path: String, headers: &[(&str, &str)]| Case {
            method,
            path,
            headers: owned(headers),
            raw_headers: headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            present: Vec::new(),
            forged_in: Vec::new(),
        };
        for (t, token) in self.valid.iter().enumerate() {
            let bearer = format!("Bearer {token}");
            let mut hits = vec![
                plain("GET", "/orders/1".into(), &[("authorization", &bearer)]),
                plain("GET", "/orders/1".into(), &[("x-token", token)]),
                plain("GET", format!("/orders/1?access_token={token}"), &[]),
                plain(
                    "GET",
                    "/docs/x".into(),
                    &[("cookie", &format!("a=1; session={token}"))],
                ),
            ];
            if self.vouches[t][1] {
                hits.push(plain(
                    "POST",
                    "/orders/1".into(),
                    &[("x-partner-token", token)],
                ));
            }
            for case in hits {
                if !self.check_fast_path(&case, t) {
                    broken(format!(
                        "the fast path does not answer {} {} {:?}",
                        case.method, case.path, case.headers
                    ));
                }
            }
        }
    }
}

/// The request the decision target reads from `data`.
pub fn decision_request(data: &[u8]) -> RequestSpec {
    let fx = decision_fixture();
    RequestSpec::read(data, fx.valid.len(), fx.forged.len())
}

/// `decision`: the input as a request (method, path of tricky segments, query,
/// headers, cookies, tokens valid and forged), decided under the fixed config
/// (`decision_config`) and checked against the oracles. See fuzz/README.md.
pub fn decision(data: &[u8]) {
    // The input itself as a serialized header map: never a panic, and what
    // reads is exactly the wire form of what it read.
    if let Some(map) = HeaderMap::parse(data) {
        if !data.is_empty() {
            assert_eq!(
                serialize(map.pairs()).as_deref(),
                Some(data),
                "a header map read from bytes it does not serialize to"
            );
        }
    }
    let fx = decision_fixture();
    let spec = decision_request(data);
    let case = fx.build(&spec);
    fx.check(&case, data.len());
    fx.check_fast_path(&case, data.len());
}
