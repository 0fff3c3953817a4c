//! The exchange's promise, checked over many generated outbound requests: once
//! its plan is carried out, no credential the request carried is still in it
//! (in any spelling a server may read as a token header), unless the
//! configuration says `unmatched: forward`; a request goes on with a token only
//! when that token is the exchanged one.

use audgate::config::Config;
use audgate::decision::onward::{exchanged_at_once, onward, Exchanged, ExchangedTokens, Recalled};
use audgate::decision::plan::{Action, Change};
use audgate::decision::Decision;
use audgate::exchange::outbound::BorrowedRequest;
use audgate::oauth::cache_key::{CacheKey, KeyHasher};
use audgate::request::{same_header_name, Request};
use serde_json::json;

/// A small deterministic generator (xorshift), so a failure replays.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const EXCHANGED: &str = "exchanged.token.value";

/// Every exchange is at hand (or the dice say refused/failed/not yet).
struct Dealt(u8);

impl ExchangedTokens for Dealt {
    fn key(&self, subject_token: &str, destination: usize) -> CacheKey {
        KeyHasher::with_key(1, 2).key(subject_token, destination)
    }

    fn recall(&mut self, _key: &CacheKey) -> Option<Recalled> {
        match self.0 {
            0 => Some(Recalled::Token(EXCHANGED.into())),
            1 => Some(Recalled::Refused),
            2 => Some(Recalled::Failed),
            _ => None,
        }
    }
}

fn config(unmatched: &str) -> Config {
    let config = json!({"exchange": {
        "token_endpoint": "http://sts/token",
        "cluster": "sts",
        "unmatched": unmatched,
        "from_headers": [
            {"name": "authorization", "value_prefix": "Bearer "},
            {"name": "x-api-token"},
        ],
        "destinations": [
            {"hosts": ["payments"], "audience": "payments"},
            {"hosts": ["ledger:8443"], "audience": "ledger", "requires_token": true},
        ],
    }});
    Config::from_json(config.to_string().as_bytes()).unwrap()
}

/// `headers` after `changes`, the least favourable way a proxy may make them:
/// a removal takes every value of the name; a set replaces only the first value
/// (as Envoy's `setCopy` has done), leaving any other.
fn applied(headers: &[(String, String)], changes: &[Change]) -> Vec<(String, String)> {
    let mut out = headers.to_vec();
    for change in changes {
        match change {
            Change::Remove(name) => out.retain(|(key, _)| key != name),
            Change::Set(name, value) => match out.iter_mut().find(|(key, _)| key == name) {
                Some(first) => first.1 = value.clone(),
                None => out.push((name.clone(), value.clone())),
            },
        }
    }
    out
}

fn is_credential_name(name: &str) -> bool {
    ["authorization", "x-api-token", "dpop"]
        .iter()
        .any(|known| same_header_name(name, known))
}

#[test]
fn no_credential_leaves_unless_forward_says_so_and_only_the_exchanged_token_goes() {
    let names = [
        "authorization",
        "x-api-token",
        "x_api_token",
        "dpop",
        "Authorization",
        "x-other",
        "cookie",
    ];
    let values = [
        "Bearer abc.def.ghi",
        "bearer tok",
        "DPoP abc",
        "Basic dXNlcg==",
        "Bearer ",
        "abc",
        "Bearer a b",
        "x",
    ];
    let hosts = [
        "payments",
        "PAYMENTS.",
        "payments:80",
        "ledger:8443",
        "ledger",
        "elsewhere",
        "[::1]:8080",
        "",
    ];
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let configs = [
        ("remove", config("remove")),
        ("refuse", config("refuse")),
        ("forward", config("forward")),
    ];
    let mut exchanged = 0;
    let mut fast = 0;
    for _ in 0..20_000 {
        let (policy, config) = &configs[dice.below(configs.len())];
        let mut headers = vec![
            (":method".to_owned(), "GET".to_owned()),
            (":path".to_owned(), "/x".to_owned()),
            (":authority".to_owned(), dice.pick(&hosts).to_owned()),
        ];
        for _ in 0..dice.below(4) {
            // Envoy hands the filter lowercase names.
            headers.push((
                dice.pick(&names).to_ascii_lowercase(),
                dice.pick(&values).to_owned(),
            ));
        }
        let decision = Decision {
            verdict: Ok(()),
            provider: None,
            mutations: Default::default(),
            from_cache: false,
            proof: None,
            dpop: None,
            facts: None,
            hints: Default::default(),
            unmet: None,
        };
        let dealt_as = u8::try_from(dice.below(4)).unwrap();
        let planned = onward(
            config,
            &Request::from_headers(&headers),
            &decision,
            None,
            &mut Dealt(dealt_as),
        );
        // The filter's fast path, over borrowed headers, plans exactly the
        // same, and is taken for every token at hand.
        let borrowed = BorrowedRequest::new(
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
        );
        let at_once = exchanged_at_once(config, &borrowed, &mut Dealt(dealt_as));
        match (&planned.exchanged, &at_once) {
            (Some(Exchanged::CacheHit(destination)), Some((changes, fast_destination))) => {
                assert_eq!(destination, fast_destination);
                assert_eq!(
                    planned.plan.action,
                    Action::Continue(changes.clone()),
                    "{headers:?}"
                );
                fast += 1;
            }
            (Some(Exchanged::CacheHit(_)), None) => {
                panic!("a token at hand missed the fast path: {headers:?}")
            }
            (_, Some(_)) => {
                panic!("the fast path answered what the plan does not: {headers:?} → {planned:?}")
            }
            _ => {}
        }
        let Action::Continue(changes) = &planned.plan.action else {
            continue;
        };
        let out = applied(&headers, changes);
        let sent: Vec<&(String, String)> = out
            .iter()
            .filter(|(name, _)| is_credential_name(name))
            .collect();
        let with_new = out.iter().any(|(name, value)| {
            name == "authorization" && value == &format!("Bearer {EXCHANGED}")
        });
        if with_new {
            exchanged += 1;
            assert_eq!(
                sent.len(),
                1,
                "only the exchanged token goes: {headers:?} → {out:?}"
            );
            continue;
        }
        if *policy != "forward" {
            // No token at all may go on as it is, but only without credentials
            // beside a DPoP proof (a proof without its token opens nothing).
            let leaked: Vec<_> = sent.iter().filter(|(name, _)| name != "dpop").collect();
            assert!(leaked.is_empty(), "{policy}: {headers:?} → {out:?}");
        }
    }
    assert!(
        exchanged > 200,
        "the generator reaches the exchange ({exchanged})"
    );
    assert!(fast > 200, "and the fast path ({fast})");
}
