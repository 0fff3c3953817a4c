//! The token fixture: the `token` target's world (`fixtures/token_config.json`,
//! `fixtures/valid_tokens.txt`: one provider, a clock, the valid seed tokens),
//! which the `config` and `decision` targets borrow (its keys, issuer, clock and
//! tokens), and the helpers they share for deciding a request.

use std::cell::RefCell;
use std::sync::OnceLock;

use audgate::config::Config;
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::verify::RustCrypto;
use audgate::request::Request;
use audgate::token::cache::TokenCache;

/// The token target's provider config (written by `cargo run --example fuzz_seeds`).
pub(crate) const TOKEN_CONFIG: &str = include_str!("../fixtures/token_config.json");
/// `now <secs>`, then the valid tokens of the token table, one a line.
const VALID_TOKENS: &str = include_str!("../fixtures/valid_tokens.txt");

pub(crate) const AUTHORITY: &str = "orders.test";
pub(crate) const PATH: &str = "/orders/1";

/// The fixed world of the `token` target.
pub struct Fixture {
    /// The token table's provider, with output headers, a parameter and a cookie.
    pub config: Config,
    /// The clock: when the valid tokens were minted.
    pub now: i64,
    /// The only tokens that may pass: signed by a fixture key, in the seed corpus.
    pub valid_tokens: Vec<String>,
    /// Their payload parts (base64url), which is what a passing request carries.
    pub(crate) valid_payloads: Vec<String>,
    pub(crate) param: String,
    pub(crate) cookie: String,
    pub(crate) payload_header: String,
}

/// The fixture, read once; it panics if a valid token no longer passes (then the
/// harness, not the input, is broken: regenerate with `cargo run --example fuzz_seeds`).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = Config::from_json(TOKEN_CONFIG.as_bytes())
            .unwrap_or_else(|e| panic!("fuzz/fixtures/token_config.json: {e}"));
        let mut now = None;
        let mut valid_tokens = Vec::new();
        for line in VALID_TOKENS.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_prefix("now ") {
                Some(secs) => now = secs.parse::<i64>().ok(),
                None => valid_tokens.push(line.to_owned()),
            }
        }
        let now = now.expect("fuzz/fixtures/valid_tokens.txt: no `now <secs>` line");
        let valid_payloads = valid_tokens
            .iter()
            .filter_map(|token| token.split('.').nth(1).map(str::to_owned))
            .collect();
        let provider = config.providers.first().expect("a provider");
        let fixture = Fixture {
            param: provider.from_params.first().expect("from_params").clone(),
            cookie: provider.from_cookies.first().expect("from_cookies").clone(),
            payload_header: provider
                .forward_payload_header
                .clone()
                .expect("forward_payload_header"),
            config,
            now,
            valid_tokens,
            valid_payloads,
        };
        assert!(
            !fixture.valid_tokens.is_empty(),
            "no valid token in the fixture"
        );
        for token in &fixture.valid_tokens {
            let header = fixture.decide(
                "GET",
                PATH,
                AUTHORITY,
                &[("authorization", &format!("Bearer {token}"))],
            );
            let query = fixture.decide(
                "GET",
                &format!("{PATH}?{}={token}", fixture.param),
                AUTHORITY,
                &[],
            );
            let cookie = fixture.decide(
                "GET",
                PATH,
                AUTHORITY,
                &[("cookie", &format!("{}={token}", fixture.cookie))],
            );
            for decision in [header, query, cookie] {
                assert_eq!(
                    decision.verdict,
                    Ok(()),
                    "fixture broken: a valid seed token does not pass ({token}); \
                     regenerate with `cargo run --example fuzz_seeds`"
                );
            }
        }
        fixture
    })
}

impl Fixture {
    pub(crate) fn verifier<'a>(
        &'a self,
        keys: &'a LocalKeys<'a>,
        cache: Option<&'a RefCell<TokenCache>>,
    ) -> Verifier<'a> {
        Verifier {
            keys,
            signatures: &RustCrypto,
            cache,
            introspections: &audgate::keys::introspection::vouched::NoIntrospections,
            now: self.now,
        }
    }

    pub(crate) fn decide(
        &self,
        method: &str,
        path: &str,
        authority: &str,
        headers: &[(&str, &str)],
    ) -> Decision {
        let headers = owned(headers);
        let request = Request {
            method,
            path,
            authority,
            headers: &headers,
        };
        let keys = LocalKeys(&self.config);
        decide(&self.config, &request, &self.verifier(&keys, None))
    }

    pub(crate) fn is_valid_token(&self, token: &str) -> bool {
        self.valid_tokens.iter().any(|valid| valid == token)
    }
}

/// A decision through the token cache is the decision without it.
pub(crate) fn assert_same(cached: &Decision, fresh: &Decision) {
    assert_eq!(
        (&cached.verdict, cached.provider, &cached.mutations),
        (&fresh.verdict, fresh.provider, &fresh.mutations),
        "the token cache changes the decision"
    );
}

pub(crate) fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}
