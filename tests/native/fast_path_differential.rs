//! The cache-hit fast path (`fast_path::cached_pass`) against the full decision
//! (`decide_with_peer`), request by request: the token table and the policy
//! configurations of the end-to-end tests, each request in many variants (token
//! places and spellings, two tokens, forged output headers in odd spellings, odd
//! paths and methods, bytes that are not UTF-8) and worlds (the cache as warmed,
//! later when the cached entry has expired, a new key generation, no keys).
//!
//! For each: the cache is warmed by the full path, then `cached_pass` runs on a
//! clone of it and the full decision on another clone, per peer. When the fast
//! path answers, its decision and the cache it leaves must equal the full path's;
//! when it declines, the full decision run after it must equal one run without
//! it, and so must the caches (so no later decision can differ: `==` on a cache
//! compares every entry, second-chance bit and the eviction hand). And the fast
//! path must fire where it is meant to, or this test could pass on a fast path
//! that never does.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::support::cases;
use crate::support::keys::{self, b64, now, TestKey};
use crate::support::providers::{
    claims, corp, corp_token, partner_token, two_provider_rules, AUD, CORP, PARTNER,
};
use audgate::config::{Config, KeySource};
use audgate::decision::fast_path::cached_pass;
use audgate::decision::{decide_with_peer, Decision, KeyStore, Verifier};
use audgate::keys::jwks::KeySet;
use audgate::keys::verify::RustCrypto;
use audgate::policy::caller::{KnownPeer, NoPeer, Peer};
use audgate::request::header_map::{serialize, HeaderMap};
use audgate::request::Request;
use audgate::token::cache::TokenCache;
use serde_json::{json, Value};

const AUTHORITY: &str = "orders.test";
const ADMIN_AUD: &str = "orders-admin.svc";
const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";
/// A peer certificate digest, and the `cnf.x5t#S256` naming it.
const CERT_HEX: &str = "f8b9ac4d3aa1e3fdbc4a7a2b1af8a2e4bfd9c7bbef4d1d2b2cfae2b1b6a5d1b3";

fn x5t() -> String {
    let bytes: Vec<u8> = (0..CERT_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&CERT_HEX[i..i + 2], 16).unwrap())
        .collect();
    b64(&bytes)
}

/// Local keys under a generation the test sets, or none at all.
struct Keys<'a> {
    config: &'a Config,
    generation: u64,
    available: bool,
}

impl KeyStore for Keys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.config.providers.get(provider)?.keys {
            KeySource::Local(set) if self.available => Some(set),
            _ => None,
        }
    }

    fn generation(&self, _provider: usize) -> u64 {
        self.generation
    }
}

/// When the request is decided, against which keys.
#[derive(Clone, Copy, Debug)]
struct World {
    name: &'static str,
    /// Seconds after the warming.
    later: i64,
    generation: u64,
    keys: bool,
}

const WARM: World = World {
    name: "as warmed",
    later: 0,
    generation: 0,
    keys: true,
};

const WORLDS: [World; 5] = [
    WARM,
    World {
        name: "a little later",
        later: 500,
        ..WARM
    },
    World {
        name: "expired in the cache",
        later: 100_000,
        ..WARM
    },
    World {
        name: "a new key generation",
        generation: 1,
        ..WARM
    },
    World {
        name: "no keys",
        keys: false,
        ..WARM
    },
];

fn peers() -> Vec<(&'static str, Box<dyn Peer>)> {
    vec![
        ("no peer", Box::new(NoPeer)),
        (
            "the bound peer",
            Box::new(KnownPeer {
                uri_san: Some(FRONTEND.into()),
                certificate_sha256_hex: Some(CERT_HEX.into()),
                address: Some("10.0.0.1:1234".into()),
            }),
        ),
        (
            "another peer",
            Box::new(KnownPeer {
                uri_san: Some("spiffe://cluster.local/ns/shop/sa/other".into()),
                certificate_sha256_hex: None,
                address: None,
            }),
        ),
    ]
}

/// Where a token goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Header(String, String),
    Param(String),
    Cookie(String),
}

/// A request before serialization: pseudo-headers (`None`: not sent), headers.
#[derive(Clone, Debug)]
struct Req {
    method: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Req {
    fn new(method: &str, path: &str) -> Req {
        Req {
            method: Some(method.into()),
            path: Some(path.into()),
            headers: vec![
                (b"user-agent".to_vec(), b"curl/8".to_vec()),
                (b"accept".to_vec(), b"*/*".to_vec()),
            ],
        }
    }

    fn header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn param(mut self, pair: &str) -> Req {
        let path = self.path.get_or_insert_with(Vec::new);
        path.push(if path.contains(&b'?') { b'&' } else { b'?' });
        path.extend_from_slice(pair.as_bytes());
        self
    }

    fn with(self, place: &Place, token: &str) -> Req {
        match place {
            Place::Header(name, prefix) => self.header(name.as_str(), format!("{prefix}{token}")),
            Place::Param(name) => self.param(&format!("{name}={token}")),
            Place::Cookie(name) => self.header("cookie", format!("a=1; {name}={token}")),
        }
    }

    /// The pairs in the order the host sends them: pseudo-headers first.
    fn pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut pairs = Vec::new();
        if let Some(method) = &self.method {
            pairs.push((b":method".to_vec(), method.clone()));
        }
        if let Some(path) = &self.path {
            pairs.push((b":path".to_vec(), path.clone()));
        }
        pairs.push((b":authority".to_vec(), AUTHORITY.into()));
        pairs.extend(self.headers.iter().cloned());
        pairs
    }
}

/// One configuration, its warmed cache and what the fast path did under it.
struct Rig {
    name: &'static str,
    config: Config,
    warm: TokenCache,
    now: i64,
    /// Per variant label: (answered, asked).
    tally: BTreeMap<String, (usize, usize)>,
    compared: usize,
}

impl Rig {
    fn new(name: &'static str, json: Value) -> Rig {
        let config = Config::from_json(json.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let warm = TokenCache::new(config.token_cache_size);
        Rig {
            name,
            config,
            warm,
            now: now() as i64,
            tally: BTreeMap::new(),
            compared: 0,
        }
    }

    fn verifier<'a>(
        &self,
        keys: &'a Keys<'a>,
        cache: &'a RefCell<TokenCache>,
        world: World,
    ) -> Verifier<'a> {
        Verifier {
            keys,
            signatures: &RustCrypto,
            cache: Some(cache),
            introspections: &audgate::keys::introspection::vouched::NoIntrospections,
            now: self.now + world.later,
        }
    }

    /// Decides `req` in full on the warm cache (as warmed: now, generation 0).
    fn warm(&mut self, req: &Req) {
        let bytes = serialize(&req.pairs()).unwrap();
        let owned = HeaderMap::parse(&bytes).unwrap().to_owned_pairs();
        let keys = Keys {
            config: &self.config,
            generation: 0,
            available: true,
        };
        let cache = RefCell::new(self.warm.clone());
        let verifier = self.verifier(&keys, &cache, WARM);
        decide_with_peer(
            &self.config,
            &Request::from_headers(&owned),
            &verifier,
            &NoPeer,
        );
        self.warm = cache.into_inner();
    }

    /// Both paths on `req` in `world`, for every peer; the fast path's answer.
    fn compare(&mut self, label: &str, req: &Req, world: World) -> Option<Decision> {
        let bytes = serialize(&req.pairs()).unwrap();
        let headers = HeaderMap::parse(&bytes).unwrap();
        let owned = headers.to_owned_pairs();
        let request = Request::from_headers(&owned);
        let keys = Keys {
            config: &self.config,
            generation: world.generation,
            available: world.keys,
        };
        let context = || {
            format!(
                "{}: {label}, {}:\n{:#?}",
                self.name,
                world.name,
                owned
                    .iter()
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect::<Vec<_>>()
            )
        };
        let fast_cache = RefCell::new(self.warm.clone());
        let fast = cached_pass(
            &self.config,
            &headers,
            &self.verifier(&keys, &fast_cache, world),
        );
        for (peer_name, peer) in peers() {
            let full_cache = RefCell::new(self.warm.clone());
            let full = decide_with_peer(
                &self.config,
                &request,
                &self.verifier(&keys, &full_cache, world),
                peer.as_ref(),
            );
            match &fast {
                Some(fast) => {
                    assert_eq!(fast, &full, "{} ({peer_name})", context());
                    assert!(fast.verdict.is_ok() && fast.from_cache, "{}", context());
                    assert!(
                        fast_cache == full_cache,
                        "{} ({peer_name}): the caches differ after a fast pass",
                        context()
                    );
                }
                None => {
                    // The full path, after the fast path looked and declined.
                    let after_cache = RefCell::new(fast_cache.borrow().clone());
                    let after = decide_with_peer(
                        &self.config,
                        &request,
                        &self.verifier(&keys, &after_cache, world),
                        peer.as_ref(),
                    );
                    assert_eq!(
                        after,
                        full,
                        "{} ({peer_name}): the declining fast path changed the decision",
                        context()
                    );
                    assert!(
                        after_cache == full_cache,
                        "{} ({peer_name}): the declining fast path changed the cache",
                        context()
                    );
                }
            }
        }
        let entry = self.tally.entry(label.to_owned()).or_default();
        entry.0 += usize::from(fast.is_some());
        entry.1 += 1;
        self.compared += 1;
        fast
    }

    /// `compare` in every world; the warm world's answer.
    fn compare_all(&mut self, label: &str, req: &Req) -> Option<Decision> {
        let first = self.compare(label, req, WARM);
        for world in &WORLDS[1..] {
            self.compare(label, req, *world);
        }
        first
    }

    /// Every token place of every provider, in configuration order.
    fn places(&self) -> Vec<Place> {
        let mut places = Vec::new();
        for provider in &self.config.providers {
            for source in &provider.from_headers {
                places.push(Place::Header(
                    source.name.clone(),
                    source.value_prefix.clone(),
                ));
            }
            places.extend(provider.from_params.iter().cloned().map(Place::Param));
            places.extend(provider.from_cookies.iter().cloned().map(Place::Cookie));
        }
        places
    }

    /// `base` with `token` at `place`, in every variant, in every world.
    fn explore(&mut self, base: &Req, place: &Place, token: &str, other: &str) {
        let with = |req: Req| req.with(place, token);
        let plain = with(base.clone());
        self.compare_all("as is", &plain);

        // Token places and spellings.
        for at in self.places() {
            self.compare_all("in each place", &base.clone().with(&at, token));
            if at != *place {
                let both = with(base.clone()).with(&at, token);
                self.compare_all("same token in two places", &both);
                let two = with(base.clone()).with(&at, other);
                self.compare_all("another token elsewhere", &two);
            }
        }
        self.compare_all("the place twice", &with(with(base.clone())));
        self.compare_all("no token", base);
        if let Place::Header(name, prefix) = place {
            let spelled = |value: String| base.clone().header(name.as_str(), value);
            let scheme = prefix.trim_end();
            for value in [
                format!("{}{}{token}", scheme.to_ascii_lowercase(), "\t"),
                format!("{} {token}  ", scheme.to_ascii_uppercase()),
                format!("{scheme}   {token}"),
                format!("{prefix}{token}\u{a0}"),
                format!("{prefix}{token}x"),
                format!("{prefix} "),
                format!("Basic {token}"),
            ] {
                self.compare_all("token spelled oddly", &spelled(value));
            }
            let mut binary = spelled(format!("{prefix}{token}"));
            binary.headers.last_mut().unwrap().1.push(0xff);
            self.compare_all("token value not UTF-8", &binary);
            let shouted = base
                .clone()
                .header(name.to_ascii_uppercase(), format!("{prefix}{token}"));
            self.compare_all("token header name in capitals", &shouted);
        }
        if let Place::Cookie(name) = place {
            for cookie in [
                format!("{name}={token}"),
                format!("{name}=\"{token}\"; b=2"),
                format!("b=2;{name}={token}"),
                format!("s%65ssion={token}; {name}={token}"),
            ] {
                self.compare_all(
                    "cookie spelled oddly",
                    &base.clone().header("cookie", cookie),
                );
            }
            let split = base
                .clone()
                .header("cookie", "a=1")
                .header("cookie", format!("{name}={token}; c=3"));
            self.compare_all("cookie split over two headers", &split);
        }
        if let Place::Param(name) = place {
            for pair in [
                format!("a=1&{name}={token}&b=2"),
                format!("a=1;{name}={token};b"),
                format!("{name}={}", token.replace('.', "%2E")),
                format!("{}={token}", name.replace('_', "%5F")),
                format!("{name}={token}&{name}={token}"),
            ] {
                self.compare_all("query spelled oddly", &base.clone().param(&pair));
            }
        }

        // Headers: harmless extras, look-alikes, forged outputs in any spelling.
        self.compare_all(
            "unrelated binary header",
            &plain.clone().header("x-bin", b"\xff\xfe".to_vec()),
        );
        self.compare_all(
            "header name not UTF-8",
            &plain.clone().header(b"x-\xff".to_vec(), "1"),
        );
        self.compare_all(
            "names in capitals",
            &Req {
                headers: plain
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_uppercase(), v.clone()))
                    .collect(),
                ..plain.clone()
            },
        );
        for name in [
            "x-audgate-would-rejectx",
            "xaudgate-would-reject",
            "x-users",
            "x-user-",
        ] {
            self.compare_all("look-alike of an output", &plain.clone().header(name, "1"));
        }
        for output in self.config.output_headers.clone() {
            for spelling in [
                output.clone(),
                output.to_ascii_uppercase(),
                output.replace('-', "_"),
                output.replace('_', "-"),
                output
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect(),
            ] {
                self.compare_all("forged output", &plain.clone().header(spelling, "forged"));
            }
        }
        self.compare_all(
            "cors headers",
            &plain
                .clone()
                .header("origin", "https://x")
                .header("access-control-request-method", "GET"),
        );

        // Paths.
        let path = String::from_utf8(base.path.clone().unwrap_or_default()).unwrap();
        let (stem, query) = match path.split_once('?') {
            Some((stem, query)) => (stem.to_owned(), format!("?{query}")),
            None => (path.clone(), String::new()),
        };
        let escaped = match stem.char_indices().nth(1) {
            Some((at, c)) if c.is_ascii_alphanumeric() => {
                format!("/%{:02X}{}", c as u32, &stem[at + 1..])
            }
            _ => format!("{stem}%41"),
        };
        let mut odd: Vec<Vec<u8>> = [
            format!("/{stem}"),
            format!("{stem}/"),
            format!("{stem}//x"),
            format!("{stem}/."),
            format!("{stem}/.."),
            format!("/.{stem}"),
            format!("/./{}", stem.trim_start_matches('/')),
            format!("/x/..{stem}"),
            escaped,
            format!("{stem};x"),
            format!("{stem};jsessionid=1/y"),
            format!("{stem}%3Bx"),
            format!("{stem}%2Fx"),
            format!("{stem}\\x"),
            format!("{stem}/caf\u{e9}"),
            format!("{stem}#frag"),
            format!("{stem} x"),
            stem.to_ascii_uppercase(),
            stem.trim_start_matches('/').to_owned(),
            format!("{stem}?"),
            format!("{stem}?x=1"),
            String::new(),
        ]
        .into_iter()
        .map(|p| format!("{p}{query}").into_bytes())
        .collect();
        let mut binary = stem.clone().into_bytes();
        binary.push(0xff);
        odd.push(binary);
        for path in odd {
            let req = with(Req {
                path: Some(path),
                ..base.clone()
            });
            self.compare_all("odd path", &req);
        }
        self.compare_all(
            "no :path",
            &with(Req {
                path: None,
                ..base.clone()
            }),
        );
        let mut twice = plain.clone();
        twice
            .headers
            .push((b":path".to_vec(), b"/healthz".to_vec()));
        self.compare_all("a second :path", &twice);

        // Methods.
        for method in [
            &b"get"[..],
            &b"POST"[..],
            &b"DELETE"[..],
            &b"OPTIONS"[..],
            &b"G\xffT"[..],
            &b""[..],
        ] {
            let req = with(Req {
                method: Some(method.to_vec()),
                ..base.clone()
            });
            self.compare_all("method", &req);
            let preflight = req
                .header("origin", "https://app.test")
                .header("access-control-request-method", "GET");
            self.compare_all("method with preflight headers", &preflight);
        }
        self.compare_all(
            "no :method",
            &with(Req {
                method: None,
                ..base.clone()
            }),
        );
    }

    fn fires(&mut self, label: &str, req: &Req) -> Decision {
        self.compare(label, req, WARM)
            .unwrap_or_else(|| panic!("{}: {label}: the fast path did not fire", self.name))
    }

    fn declines(&mut self, label: &str, req: &Req) {
        assert!(
            self.compare(label, req, WARM).is_none(),
            "{}: {label}: the fast path fired",
            self.name
        );
    }

    fn report(&self) {
        eprintln!("{}: {} comparisons", self.name, self.compared);
        for (label, (answered, asked)) in &self.tally {
            eprintln!("  {label}: fast path answered {answered} of {asked}");
        }
    }
}

fn token_named(rows: &[cases::Case], name: &str) -> String {
    let row = rows.iter().find(|case| case.name == name).expect(name);
    row.token.clone().unwrap()
}

fn bearer(req: Req, token: &str) -> Req {
    req.header("authorization", format!("Bearer {token}"))
}

fn bearer_place() -> Place {
    Place::Header("authorization".into(), "Bearer ".into())
}

#[test]
fn the_token_table_decides_alike_on_both_paths() {
    let mut rig = Rig::new("token table", cases::config());
    let rows = cases::cases();
    let base = Req::new("GET", "/orders/1");
    for case in &rows {
        if let Some(token) = &case.token {
            rig.warm(&bearer(base.clone(), token));
        }
    }
    let other = token_named(&rows, "valid RS384");
    for case in &rows {
        let Some(token) = &case.token else {
            rig.compare_all(case.name, &base);
            continue;
        };
        let plain = bearer(base.clone(), token);
        if case.status == 200 {
            let decision = rig.fires(case.name, &plain);
            assert_eq!(decision.provider, Some(0));
            assert_eq!(decision.mutations.remove_headers, vec!["authorization"]);
        } else {
            rig.declines(case.name, &plain);
        }
        rig.explore(&base, &bearer_place(), token, &other);
    }
    rig.report();
}

#[test]
fn query_and_cookie_tokens_outputs_and_forward_decide_alike() {
    for forward in [false, true] {
        let mut config = cases::config();
        let provider = config["providers"][0].as_object_mut().unwrap();
        provider.insert(
            "from_headers".into(),
            json!([
                {"name": "authorization", "value_prefix": "Bearer "},
                {"name": "x-token"},
            ]),
        );
        provider.insert("from_params".into(), json!(["access_token"]));
        provider.insert("from_cookies".into(), json!(["session"]));
        provider.insert("forward_payload_header".into(), json!("x-jwt-payload"));
        provider.insert(
            "claim_to_headers".into(),
            json!([{"claim": "sub", "header": "x_user"}, {"claim": "iat", "header": "x-issued-at"}]),
        );
        provider.insert("forward".into(), json!(forward));
        config["bypass_cors_preflight"] = json!(true);
        let name = if forward {
            "outputs, forward"
        } else {
            "outputs"
        };
        let mut rig = Rig::new(name, config);
        let rows = cases::cases();
        let good = token_named(&rows, "valid RS256");
        let other = token_named(&rows, "valid ES256");
        let base = Req::new("GET", "/orders/1?page=2");
        for token in [&good, &other] {
            rig.warm(&bearer(base.clone(), token));
        }
        for place in rig.places() {
            let decision = rig.fires("fires in each place", &base.clone().with(&place, &good));
            assert_eq!(decision.mutations.set_headers.len(), 3, "{decision:?}");
            if forward {
                assert_eq!(decision.mutations.remove_headers, Vec::<String>::new());
                assert_eq!(decision.mutations.path, None);
                assert_eq!(decision.mutations.cookie, None);
            }
        }
        let cookie = rig.fires(
            "fires on a cookie",
            &base
                .clone()
                .header("cookie", format!("a=1; session={good}; b=2")),
        );
        if !forward {
            assert_eq!(cookie.mutations.cookie, Some(Some("a=1; b=2".to_owned())));
            assert_eq!(cookie.mutations.removed_cookies, vec!["session"]);
        }
        let param = rig.fires(
            "fires on a parameter",
            &base.clone().param(&format!("access_token={good}")),
        );
        if !forward {
            assert_eq!(param.mutations.path.as_deref(), Some("/orders/1?page=2"));
        }
        rig.declines(
            "forged output",
            &bearer(base.clone(), &good).header("X_User", "admin"),
        );
        rig.declines(
            "preflight",
            &bearer(Req::new("OPTIONS", "/orders/1"), &good),
        );
        for place in rig.places() {
            rig.explore(&base, &place, &good, &other);
        }
        rig.explore(
            &Req::new("GET", "/orders/1"),
            &bearer_place(),
            &token_named(&rows, "token for another audience"),
            &good,
        );
        rig.report();
    }
}

#[test]
fn policy_rules_decide_alike_on_both_paths() {
    // The rules the end-to-end tests (e2e: rules, token_sources) run in Envoy.
    let mut rig = Rig::new("two-provider rules", two_provider_rules());
    let corp_t = corp_token(json!({}));
    let partner_t = partner_token(json!({}));
    let partner_place = Place::Header("x-partner-token".into(), "Token ".into());
    let routes = [
        ("GET", "/public/x"),
        ("GET", "/partner/orders"),
        ("GET", "/either"),
        ("GET", "/other"),
        ("GET", "/healthz"),
        ("POST", "/admin/x"),
        ("GET", "/admin/x"),
    ];
    for (method, path) in routes {
        let base = Req::new(method, path);
        rig.warm(&bearer(base.clone(), &corp_t));
        rig.warm(&base.clone().with(&partner_place, &partner_t));
        rig.warm(&bearer(base.clone(), &corp_t).with(&partner_place, &partner_t));
    }
    rig.fires(
        "corp on /public",
        &bearer(Req::new("GET", "/public/x"), &corp_t),
    );
    rig.fires(
        "partner on /partner",
        &Req::new("GET", "/partner/orders").with(&partner_place, &partner_t),
    );
    rig.fires(
        "partner cookie on /partner",
        &Req::new("GET", "/partner/orders")
            .header("cookie", format!("partner_session={partner_t}")),
    );
    rig.declines("any of two", &bearer(Req::new("GET", "/either"), &corp_t));
    rig.declines(
        "the fallback of two",
        &bearer(Req::new("GET", "/other"), &corp_t),
    );
    rig.declines("none", &bearer(Req::new("GET", "/healthz"), &corp_t));
    for (method, path) in routes {
        let base = Req::new(method, path);
        rig.explore(&base, &bearer_place(), &corp_t, &partner_t);
        rig.explore(&base, &partner_place, &partner_t, &corp_t);
    }
    rig.report();
}

#[test]
fn route_audiences_claims_and_templates_decide_alike() {
    let mut rig = Rig::new(
        "route_policy rules",
        json!({
            "providers": [corp(json!({"required_claims": {
                "tenant": {"one_of": ["acme", "globex", "initech"]},
            }}))],
            "rules": [
                {"match": {"prefix": "/admin"}, "requires": {"provider": "corp", "audiences": [ADMIN_AUD]}},
                {"match": {"template": "/tenants/{tenant}/orders/**"},
                 "requires": {"provider": "corp", "claims": {"tenant": "${path.tenant}"}}},
                {"match": {"prefix": "/by-header"},
                 "requires": {"provider": "corp", "claims": {"tenant": "${header.x-tenant}"}}},
                {"match": {"prefix": "/orders", "methods": ["POST"]},
                 "requires": {"provider": "corp", "claims": {"realm_access.roles": "orders-admin"}}},
                {"match": {"prefix": "/scoped"},
                 "requires": {"provider": "corp", "claims": {"scope": {"one_of": ["orders:read", "orders:write"]}}}},
                {"match": {"prefix": "/"}, "requires": "corp"},
            ],
        }),
    );
    let acme = corp_token(json!({"tenant": "acme", "scope": "profile orders:read"}));
    let admin = corp_token(json!({"aud": ADMIN_AUD, "tenant": "acme"}));
    let writer =
        corp_token(json!({"tenant": "globex", "realm_access": {"roles": ["orders-admin"]}}));
    let no_tenant = corp_token(json!({}));
    let routes = [
        ("GET", "/orders"),
        ("POST", "/orders"),
        ("GET", "/admin/users"),
        ("GET", "/tenants/acme/orders/7"),
        ("GET", "/tenants/globex/orders"),
        ("GET", "/tenants/acme"),
        ("GET", "/by-header"),
        ("GET", "/scoped/x"),
    ];
    let tokens = [&acme, &admin, &writer, &no_tenant];
    for (method, path) in routes {
        for token in tokens {
            rig.warm(&bearer(Req::new(method, path), token));
            rig.warm(&bearer(Req::new(method, path), token).header("x-tenant", "acme"));
        }
    }
    rig.fires(
        "service token on /orders",
        &bearer(Req::new("GET", "/orders"), &acme),
    );
    rig.fires(
        "admin audience on /admin",
        &bearer(Req::new("GET", "/admin/users"), &admin),
    );
    rig.fires(
        "path-bound tenant",
        &bearer(Req::new("GET", "/tenants/acme/orders/7"), &acme),
    );
    rig.fires(
        "nested claim",
        &bearer(Req::new("POST", "/orders"), &writer),
    );
    rig.fires(
        "one of the scopes",
        &bearer(Req::new("GET", "/scoped/x"), &acme),
    );
    rig.declines(
        "another tenant in the path",
        &bearer(Req::new("GET", "/tenants/globex/orders"), &acme),
    );
    rig.declines(
        "service token on /admin",
        &bearer(Req::new("GET", "/admin/users"), &acme),
    );
    rig.declines(
        "a header-bound claim",
        &bearer(Req::new("GET", "/by-header"), &acme).header("x-tenant", "acme"),
    );
    for (method, path) in routes {
        let base = Req::new(method, path);
        for token in tokens {
            rig.explore(&base, &bearer_place(), token, &admin);
        }
        let tenant = base.clone().header("x-tenant", "acme");
        rig.explore(&tenant, &bearer_place(), &acme, &admin);
    }
    rig.report();
}

#[test]
fn callers_certificate_bindings_and_odd_outputs_decide_alike() {
    let spire = |extra: Value| {
        keys::merged(
            json!({"name": "spire", "issuer": CORP, "audiences": [AUD],
                   "local_jwks": keys::jwks(&[TestKey::Ec256])}),
            &extra,
        )
    };
    let token = |extra: Value| {
        keys::sign_default(
            TestKey::Ec256,
            claims(CORP, keys::merged(json!({"sub": FRONTEND}), &extra)),
        )
    };
    let bound = token(json!({"cnf": {"x5t#S256": x5t()}}));
    let dpop = token(json!({"cnf": {"jkt": "abc"}}));
    let plain = token(json!({"tenant": "acme"}));
    for (name, config, fires) in [
        (
            "caller rule",
            json!({"providers": [spire(json!({"caller": {"claim": "sub"}}))]}),
            false,
        ),
        (
            "certificate binding required",
            json!({"providers": [spire(json!({"caller": {"claim": "sub", "require_certificate_binding": true}}))]}),
            false,
        ),
        (
            "no caller rule, odd outputs",
            json!({
                "providers": [spire(json!({
                    "claim_to_headers": [{"claim": "tenant", "header": "x_tenant"}],
                    "forward_payload_header": "X_Payload",
                }))],
                "rules": [
                    {"match": {"prefix": "/open"}, "requires": "none"},
                    {"match": {"prefix": "/"}, "requires": "spire"},
                ],
                "mode": "audit",
            }),
            true,
        ),
    ] {
        let mut rig = Rig::new(name, config);
        let base = Req::new("GET", "/orders");
        for (_, peer) in peers() {
            for t in [&bound, &dpop, &plain] {
                let keys = Keys {
                    config: &rig.config,
                    generation: 0,
                    available: true,
                };
                let bytes = serialize(&bearer(base.clone(), t).pairs()).unwrap();
                let owned = HeaderMap::parse(&bytes).unwrap().to_owned_pairs();
                let cache = RefCell::new(rig.warm.clone());
                let verifier = rig.verifier(&keys, &cache, WARM);
                decide_with_peer(
                    &rig.config,
                    &Request::from_headers(&owned),
                    &verifier,
                    peer.as_ref(),
                );
                rig.warm = cache.into_inner();
            }
        }
        assert!(!rig.warm.is_empty(), "{name}: nothing verified");
        rig.declines("a cnf-bound token", &bearer(base.clone(), &bound));
        rig.declines("a DPoP-bound token", &bearer(base.clone(), &dpop));
        if fires {
            rig.fires("an unbound token", &bearer(base.clone(), &plain));
        } else {
            rig.declines("an unbound token", &bearer(base.clone(), &plain));
        }
        for t in [&bound, &dpop, &plain] {
            rig.explore(&base, &bearer_place(), t, &bound);
        }
        rig.report();
    }
}

#[test]
fn settings_that_rule_the_fast_path_out_or_in() {
    // Two providers and no rules: the fallback is `any` of both.
    let partner = json!({"name": "partner", "issuer": PARTNER, "audiences": [AUD],
                         "local_jwks": keys::jwks(&[TestKey::Ec256])});
    let corp_t = corp_token(json!({}));
    let typed = keys::sign(
        "RS256",
        TestKey::Rsa1,
        json!({"typ": "at+jwt"}),
        claims(CORP, json!({})),
    );
    for (name, config, fires) in [
        (
            "two providers, no rules",
            json!({"providers": [corp(json!({})), partner]}),
            false,
        ),
        (
            "cache off",
            json!({"providers": [corp(json!({}))], "token_cache_size": 0}),
            false,
        ),
        (
            "a cache of one",
            json!({"providers": [corp(json!({}))], "token_cache_size": 1}),
            true,
        ),
        (
            "token types, lifetime, skew",
            json!({"providers": [corp(json!({"token_types": ["at+jwt"], "max_lifetime_s": 3600, "clock_skew_s": 0}))]}),
            true,
        ),
    ] {
        let mut rig = Rig::new(name, config);
        let base = Req::new("GET", "/orders/1");
        let token = if name.starts_with("token types") {
            &typed
        } else {
            &corp_t
        };
        rig.warm(&bearer(base.clone(), token));
        if fires {
            rig.fires("plain bearer", &bearer(base.clone(), token));
        } else {
            rig.declines("plain bearer", &bearer(base.clone(), token));
        }
        rig.explore(&base, &bearer_place(), token, &typed);
        rig.report();
    }
    // No cache at all: nothing to answer from.
    let rig = Rig::new("no cache", json!({"providers": [corp(json!({}))]}));
    let keys = Keys {
        config: &rig.config,
        generation: 0,
        available: true,
    };
    let bytes = serialize(&bearer(Req::new("GET", "/"), &corp_t).pairs()).unwrap();
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: rig.now,
    };
    assert_eq!(
        cached_pass(&rig.config, &HeaderMap::parse(&bytes).unwrap(), &verifier),
        None
    );
}

#[test]
fn a_cache_borrowed_elsewhere_is_declined_not_waited_for() {
    let mut rig = Rig::new("borrowed cache", json!({"providers": [corp(json!({}))]}));
    let token = corp_token(json!({}));
    let req = bearer(Req::new("GET", "/orders"), &token);
    rig.warm(&req);
    rig.fires("plain", &req);
    let keys = Keys {
        config: &rig.config,
        generation: 0,
        available: true,
    };
    let cache = RefCell::new(rig.warm.clone());
    let bytes = serialize(&req.pairs()).unwrap();
    let headers = HeaderMap::parse(&bytes).unwrap();
    let _held = cache.borrow();
    let verifier = rig.verifier(&keys, &cache, WARM);
    assert_eq!(cached_pass(&rig.config, &headers, &verifier), None);
}

/// Issue 21, finding 9: on a route that requires one provider, the other
/// providers' token places are removed on both paths alike, a forwarding
/// provider's place kept, and a required forwarding provider's bearer token
/// kept though corp reads `authorization` too.
#[test]
fn other_providers_token_places_are_removed_alike() {
    const FWD: &str = "https://fwd.test";
    let partner = json!({
        "name": "partner", "issuer": PARTNER, "audiences": [AUD],
        "local_jwks": keys::jwks(&[TestKey::Ec256]),
        "from_headers": [{"name": "x-partner-token", "value_prefix": "Token "}],
        "from_params": ["access_token"],
    });
    let fwd = json!({
        "name": "fwd", "issuer": FWD, "audiences": [AUD],
        "local_jwks": keys::jwks(&[TestKey::Ec256]), "forward": true,
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}, {"name": "x-fwd"}],
    });
    let mut rig = Rig::new(
        "other providers' places",
        json!({
            "providers": [
                corp(json!({"from_params": ["access_token"], "from_cookies": ["session"]})),
                partner,
                fwd,
            ],
            "rules": [
                {"match": {"prefix": "/partner"}, "requires": "partner"},
                {"match": {"prefix": "/fwd"}, "requires": "fwd"},
            ],
        }),
    );
    let partner_t = partner_token(json!({}));
    let fwd_t = keys::sign_default(TestKey::Ec256, claims(FWD, json!({})));
    let corp_t = corp_token(json!({}));
    let partner_place = Place::Header("x-partner-token".into(), "Token ".into());
    let on_partner = Req::new("GET", "/partner/orders");
    let on_fwd = Req::new("GET", "/fwd/x");
    rig.warm(&on_partner.clone().with(&partner_place, &partner_t));
    rig.warm(&bearer(on_fwd.clone(), &fwd_t));
    let decision = rig.fires(
        "partner, with corp's bearer, cookie and x-fwd beside it",
        &bearer(on_partner.clone(), &corp_t)
            .with(&partner_place, &partner_t)
            .with(&Place::Cookie("session".into()), &corp_t)
            .header("x-fwd", "kept"),
    );
    let removed = &decision.mutations.remove_headers;
    assert!(
        removed.contains(&"authorization".to_string()),
        "{removed:?}"
    );
    assert!(!removed.contains(&"x-fwd".to_string()), "{removed:?}");
    let decision = rig.fires("fwd's own bearer", &bearer(on_fwd.clone(), &fwd_t));
    assert!(decision.mutations.remove_headers.is_empty());
    rig.explore(&on_partner, &partner_place, &partner_t, &corp_t);
    rig.explore(&on_fwd, &bearer_place(), &fwd_t, &corp_t);
    rig.report();
}
