//! Every worked example of docs/configuration.md (the blocks marked
//! `<!-- example: NAME -->`) is a working configuration: `audgate check-config`
//! accepts it, and in Envoy it does what the docs say, request by request. Each
//! provider's remote keys are swapped for a local test key (the issuer, audiences,
//! rules and everything else stay as written). The token-exchange examples
//! (`exchange-…`) are run by docs_exchange.rs, through a caller's Envoy and a
//! token service.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::support;
use crate::support::keys::{self, now, TestKey};
use crate::support::manifests;
use crate::support::{http, Envoy, Upstream};
use serde_json::{json, Value};

/// The marked blocks of docs/configuration.md: name → (language, text).
pub(crate) fn examples() -> BTreeMap<String, (String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut found = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("<!-- example: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        let language = fence.strip_prefix("```").unwrap_or_else(|| {
            panic!("example {name}: a ``` block must follow its marker, found {fence:?}")
        });
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let previous = found.insert(name.to_owned(), (language.to_owned(), body.join("\n")));
        assert!(previous.is_none(), "example {name} twice");
    }
    found
}

/// The example's plugin configuration, checked by `audgate check-config`.
pub(crate) fn checked_config(name: &str) -> Value {
    let examples = examples();
    let (language, text) = examples
        .get(name)
        .unwrap_or_else(|| panic!("no example {name}"));
    let dir = support::temp::dir("docs-example");
    let file = dir.join(format!("{name}.{language}"));
    std::fs::write(&file, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_audgate"))
        .arg("check-config")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "check-config on example {name}: {said}"
    );
    assert!(said.contains("valid"), "{said}");
    match language.as_str() {
        "json" => serde_json::from_str(text).unwrap(),
        "yaml" => {
            let plugins = manifests::parse_yaml(name, text);
            assert_eq!(plugins.len(), 1, "example {name}: one document");
            manifests::plugin_config(&plugins[0])
        }
        other => panic!("example {name}: unexpected language {other}"),
    }
}

/// `config` with every remote provider's keys replaced by `key`'s.
pub(crate) fn with_local_keys(mut config: Value, key: TestKey) -> Value {
    let providers = config["providers"].as_array_mut();
    for provider in providers.into_iter().flatten() {
        let provider = provider.as_object_mut().unwrap();
        if provider.remove("remote_jwks").is_some() {
            provider.insert("local_jwks".into(), keys::jwks(&[key]));
        }
    }
    config
}

struct Rig {
    upstream: Upstream,
    envoy: Envoy,
    issuer: String,
    audience: String,
}

impl Rig {
    fn new(name: &str, key: TestKey) -> Rig {
        let config = with_local_keys(checked_config(name), key);
        let provider = &config["providers"][0];
        let upstream = Upstream::start();
        let envoy = Envoy::start(&config, upstream.port());
        Rig {
            upstream,
            envoy,
            issuer: provider["issuer"].as_str().unwrap().to_owned(),
            audience: provider["audiences"][0].as_str().unwrap().to_owned(),
        }
    }

    fn token(&self, key: TestKey, header: Value, extra: Value) -> String {
        let now = now();
        let base = json!({"iss": self.issuer, "aud": self.audience, "sub": "alice",
                          "iat": now, "exp": now + 600});
        keys::sign(key.default_alg(), key, header, keys::merged(base, &extra))
    }

    /// The status of `method path` with `token` (and `extra` headers); the
    /// upstream must have seen exactly the requests that passed.
    fn status(&self, method: &str, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> u16 {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        headers.extend_from_slice(extra);
        let response = http::request(self.envoy.port(), method, path, &headers, b"");
        let seen = self.upstream.take();
        assert_eq!(
            response.status == 200,
            seen.len() == 1,
            "{method} {path}: {}",
            response.status
        );
        response.status
    }
}

#[test]
fn every_marked_example_is_tested_here() {
    // The exchange examples: docs_exchange.rs.
    let names: Vec<String> = examples()
        .into_keys()
        .filter(|name| !name.starts_with("exchange-"))
        .collect();
    assert_eq!(
        names,
        [
            "access-tokens-only",
            "admin-audience",
            "caller-spire",
            "dpop-gateway",
            "first",
            "introspection-opaque",
            "istio-orders",
            "keycloak-roles",
            "mcp-istio",
            "step-up-admin",
            "tenant-in-path"
        ]
    );
}

#[test]
fn first_example() {
    // Its local_jwks is the demo key's public half, under kid k1.
    let rig = Rig::new("first", TestKey::Demo);
    let k1 = json!({"kid": "k1"});
    let reader = rig.token(TestKey::Demo, k1.clone(), json!({"scope": "orders:read"}));
    let other = rig.token(TestKey::Demo, k1, json!({"scope": "orders:write"}));
    assert_eq!(rig.status("GET", "/healthz", None, &[]), 200);
    assert_eq!(rig.status("GET", "/orders", Some(&reader), &[]), 200);
    assert_eq!(rig.status("GET", "/orders", Some(&other), &[]), 403);
    assert_eq!(rig.status("GET", "/orders", None, &[]), 401);
}

#[test]
fn istio_orders_example() {
    let rig = Rig::new("istio-orders", TestKey::Rsa1);
    let acme = rig.token(TestKey::Rsa1, json!({}), json!({"tenant": "acme"}));
    let globex_writer = rig.token(
        TestKey::Rsa1,
        json!({}),
        json!({"tenant": "globex", "scope": "orders:write"}),
    );
    let initech = rig.token(TestKey::Rsa1, json!({}), json!({"tenant": "initech"}));
    let payments = rig.token(
        TestKey::Rsa1,
        json!({}),
        json!({"tenant": "acme", "aud": "payments.prod.svc"}),
    );
    assert_eq!(rig.status("GET", "/healthz", None, &[]), 200);
    assert_eq!(rig.status("GET", "/orders", Some(&acme), &[]), 200);
    assert_eq!(rig.status("GET", "/orders", Some(&initech), &[]), 403);
    assert_eq!(rig.status("GET", "/orders", Some(&payments), &[]), 403);
    assert_eq!(rig.status("POST", "/orders", Some(&acme), &[]), 403);
    assert_eq!(
        rig.status("POST", "/orders", Some(&globex_writer), &[]),
        200
    );
    // The identity headers, and forged copies gone.
    let bearer = format!("Bearer {acme}");
    http::get(
        rig.envoy.port(),
        "/orders",
        &[("authorization", &bearer), ("x-user", "mallory")],
    );
    let seen = rig.upstream.take().pop().unwrap();
    assert_eq!(seen.headers_named("x-user"), vec!["alice"]);
    assert_eq!(seen.headers_named("x-tenant"), vec!["acme"]);
}

#[test]
fn admin_audience_example() {
    let rig = Rig::new("admin-audience", TestKey::Rsa1);
    let service = rig.token(TestKey::Rsa1, json!({}), json!({}));
    let admin = rig.token(
        TestKey::Rsa1,
        json!({}),
        json!({"aud": "orders-admin.prod.svc"}),
    );
    assert_eq!(rig.status("GET", "/orders", Some(&service), &[]), 200);
    assert_eq!(rig.status("GET", "/admin/users", Some(&service), &[]), 403);
    assert_eq!(rig.status("GET", "/admin/users", Some(&admin), &[]), 200);
    assert_eq!(rig.status("GET", "/orders", Some(&admin), &[]), 403);
}

#[test]
fn tenant_in_path_example() {
    let rig = Rig::new("tenant-in-path", TestKey::Rsa1);
    let acme = rig.token(TestKey::Rsa1, json!({}), json!({"tenant": "acme"}));
    assert_eq!(
        rig.status("GET", "/tenants/acme/orders/7", Some(&acme), &[]),
        200
    );
    assert_eq!(rig.status("GET", "/tenants/acme", Some(&acme), &[]), 200);
    assert_eq!(
        rig.status("GET", "/tenants/globex/orders/7", Some(&acme), &[]),
        403
    );
    assert_eq!(
        rig.status("GET", "/reports", Some(&acme), &[("x-tenant", "acme")]),
        200
    );
    assert_eq!(
        rig.status("GET", "/reports", Some(&acme), &[("x-tenant", "globex")]),
        403
    );
    assert_eq!(rig.status("GET", "/reports", Some(&acme), &[]), 403);
    assert_eq!(rig.status("GET", "/tenants/acme/orders/7", None, &[]), 401);
}

#[test]
fn keycloak_roles_example() {
    let rig = Rig::new("keycloak-roles", TestKey::Rsa1);
    let roles = |list: &[&str]| json!({"realm_access": {"roles": list}});
    let reader = rig.token(TestKey::Rsa1, json!({}), roles(&["orders-reader"]));
    let admin = rig.token(TestKey::Rsa1, json!({}), roles(&["orders-admin"]));
    let nobody = rig.token(TestKey::Rsa1, json!({}), roles(&["offline_access"]));
    let account = rig.token(TestKey::Rsa1, json!({}), {
        let mut claims = roles(&["orders-admin"]);
        claims["aud"] = json!("account");
        claims
    });
    assert_eq!(rig.status("GET", "/orders", Some(&reader), &[]), 200);
    assert_eq!(rig.status("POST", "/orders", Some(&reader), &[]), 403);
    assert_eq!(rig.status("POST", "/orders", Some(&admin), &[]), 200);
    assert_eq!(rig.status("GET", "/orders", Some(&nobody), &[]), 403);
    assert_eq!(rig.status("GET", "/orders", Some(&account), &[]), 403);
}

#[test]
fn access_tokens_only_example() {
    let rig = Rig::new("access-tokens-only", TestKey::Rsa1);
    let access = rig.token(TestKey::Rsa1, json!({"typ": "at+jwt"}), json!({}));
    let id_token = rig.token(TestKey::Rsa1, json!({"typ": "JWT"}), json!({"nonce": "n"}));
    assert_eq!(rig.status("GET", "/", Some(&access), &[]), 200);
    assert_eq!(rig.status("GET", "/", Some(&id_token), &[]), 401);
}

#[test]
fn caller_spire_example() {
    let frontend = "spiffe://cluster.local/ns/shop/sa/frontend";
    let pki = support::tls::Pki::new(&[frontend, "spiffe://cluster.local/ns/shop/sa/other"]);
    let config = with_local_keys(checked_config("caller-spire"), TestKey::Ec256);
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&pki.envoy_template())
        .start();
    let now = now();
    let token = keys::sign_default(
        TestKey::Ec256,
        json!({"iss": "https://spire.example.com", "aud": "spiffe://cluster.local/ns/shop/sa/orders",
               "sub": frontend, "iat": now, "exp": now + 300}),
    );
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str())];
    assert_eq!(pki.get(envoy.port(), "/", Some(0), &headers), 200);
    assert_eq!(upstream.take().len(), 1);
    assert_eq!(pki.get(envoy.port(), "/", Some(1), &headers), 401);
    assert_eq!(pki.get(envoy.port(), "/", None, &headers), 401);
    assert!(upstream.take().is_empty());
}

#[test]
fn dpop_gateway_example() {
    use audgate::token::dpop::checks::token_hash;
    use audgate::token::dpop::thumbprint::thumbprint;
    let config = with_local_keys(checked_config("dpop-gateway"), TestKey::Rsa1);
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&crate::dpop::with_nonce_env())
        .env(
            crate::dpop::NONCE_ENV,
            "the-gateways-nonce-secret-of-32-bytes+",
        )
        .start();
    let jwk = keys::bare_jwk(TestKey::Ec256);
    let now = now();
    let claims = json!({"iss": "https://login.example.com", "aud": "https://api.example.com",
                        "sub": "alice", "iat": now, "exp": now + 300});
    let bearer_token = keys::sign_default(TestKey::Rsa1, claims.clone());
    let mut bound = claims;
    bound["cnf"] = json!({"jkt": thumbprint(jwk.as_object().unwrap()).unwrap()});
    let token = keys::sign_default(TestKey::Rsa1, bound);
    let proof = |nonce: Option<&str>| {
        let mut claims = json!({"jti": format!("j{}", nonce.is_some()), "htm": "GET",
            "htu": "https://api.example.com/orders", "iat": now, "ath": token_hash(&token)});
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        keys::sign(
            "ES256",
            TestKey::Ec256,
            json!({"typ": "dpop+jwt", "jwk": jwk, "kid": null}),
            claims,
        )
    };
    let get = |authorization: &str, proof: Option<&str>| {
        let mut headers = vec![
            ("host", "api.example.com"),
            ("authorization", authorization),
        ];
        headers.extend(proof.map(|proof| ("dpop", proof)));
        http::get(envoy.port(), "/orders", &headers)
    };
    // A bearer token is refused, as the section says.
    let bearer = get(&format!("Bearer {bearer_token}"), None);
    assert_eq!(bearer.status, 401);
    assert_eq!(
        bearer.header("www-authenticate"),
        Some("DPoP realm=\"api.example.com\", error=\"invalid_token\", algs=\"ES256 ES384 RS256 PS256 EdDSA\"")
    );
    // The first proof gets a nonce; the proof signed with it passes.
    let dpop = format!("DPoP {token}");
    let first = get(&dpop, Some(&proof(None)));
    assert_eq!(first.status, 401);
    assert!(first
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"use_dpop_nonce\""));
    let nonce = first.header("dpop-nonce").unwrap().to_owned();
    assert_eq!(get(&dpop, Some(&proof(Some(&nonce)))).status, 200);
    assert_eq!(upstream.take().len(), 1);
}

#[test]
fn introspection_opaque_example() {
    use crate::support::introspection::{Introspector, IntrospectorSettings};
    const SECRET_ENV: &str = "AUDGATE_INTROSPECTION_SECRET";
    const SECRET: &str = "the resource server's secret";
    let mut config = checked_config("introspection-opaque");
    // The endpoint is the test's, through the `jwks` cluster of envoy.yaml.
    config["providers"][0]["introspection"]["cluster"] = json!("jwks");
    let server = Introspector::start(IntrospectorSettings::basic("orders-api", SECRET));
    let upstream = Upstream::start();
    let template =
        support::envoy_yaml::with_host_env(&support::envoy_yaml::template(), &[SECRET_ENV]);
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&template)
        .jwks_port(server.port())
        .env(SECRET_ENV, SECRET)
        .start();
    let now = now();
    let issue = |extra: Value| {
        server.issue(keys::merged(
            json!({"active": true, "iss": "https://login.example.com", "aud": "https://orders.example.com",
                   "sub": "alice", "scope": "orders:read", "exp": now + 300}),
            &extra,
        ))
    };
    let get = |token: &str| {
        let authorization = format!("Bearer {token}");
        let headers = [
            ("host", "orders.example.com"),
            ("authorization", authorization.as_str()),
        ];
        http::get(envoy.port(), "/orders", &headers)
    };
    let token = issue(json!({}));
    assert_eq!(get(&token).status, 200, "{}", envoy.log());
    assert_eq!(get(&token).status, 200);
    assert_eq!(
        server.calls_for(&token),
        1,
        "not asked again for 30 s on one worker"
    );
    assert_eq!(upstream.take()[0].header("x-user"), Some("alice"));
    assert_eq!(
        get(&issue(json!({"aud": "https://billing.example.com"}))).status,
        403
    );
    let unscoped = get(&issue(json!({"scope": "profile"})));
    assert_eq!(unscoped.status, 403);
    assert!(unscoped
        .header("www-authenticate")
        .is_some_and(|value| value.contains("insufficient_scope")));
    server.revoke(&token);
    let unknown = get("an-opaque-token-the-server-never-issued");
    assert_eq!(unknown.status, 401);
    assert!(upstream.take().is_empty());
}

#[test]
fn step_up_admin_example() {
    let config = with_local_keys(checked_config("step-up-admin"), TestKey::Rsa1);
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port()).start();
    let now = now() as i64;
    let token = |extra: Value| {
        let claims = keys::merged(
            json!({"iss": "https://login.example.com", "aud": "https://api.example.com",
                   "sub": "alice", "iat": now, "exp": now + 300}),
            &extra,
        );
        format!("Bearer {}", keys::sign_default(TestKey::Rsa1, claims))
    };
    let get = |path: &str, authorization: Option<&str>| {
        let mut headers = vec![("host", "api.example.com")];
        headers.extend(authorization.map(|value| ("authorization", value)));
        http::get(envoy.port(), path, &headers)
    };
    let metadata = "https://api.example.com/.well-known/oauth-protected-resource";
    let document = get("/.well-known/oauth-protected-resource", None);
    assert_eq!(document.status, 200);
    let body: Value = serde_json::from_str(&document.body).unwrap();
    assert_eq!(
        body["scopes_supported"],
        json!(["orders:read", "orders:admin"])
    );
    let missing = get("/orders", None);
    assert_eq!(missing.status, 401);
    assert!(missing
        .header("www-authenticate")
        .is_some_and(|value| value.contains(&format!("resource_metadata=\"{metadata}\""))));
    let weak = get(
        "/admin/users",
        Some(&token(
            json!({"scope": "orders:admin", "acr": "pwd", "auth_time": now - 10}),
        )),
    );
    assert_eq!(weak.status, 401);
    let challenge = weak
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("acr_values=\"phrh\", max_age=\"300\""),
        "{challenge}"
    );
    let strong = token(json!({"scope": "orders:admin", "acr": "phrh", "auth_time": now - 10}));
    assert_eq!(get("/admin/users", Some(&strong)).status, 200);
    let stale = get(
        "/admin/users",
        Some(&token(
            json!({"scope": "orders:admin", "acr": "phrh", "auth_time": now - 3600}),
        )),
    );
    assert_eq!(stale.status, 401);
    assert!(stale
        .header("www-authenticate")
        .is_some_and(|value| value.contains("More recent authentication is required")));
    let unscoped = get(
        "/admin/users",
        Some(&token(json!({"acr": "phrh", "auth_time": now - 10}))),
    );
    assert_eq!(unscoped.status, 403);
    assert!(unscoped.header("www-authenticate").is_some_and(
        |value| value.contains("error=\"insufficient_scope\", scope=\"orders:admin\"")
    ));
}

#[test]
fn mcp_istio_example() {
    let rig = Rig::new("mcp-istio", TestKey::Rsa1);
    let host = [("host", "mcp.example.com")];
    let initialize = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let headers = [
        ("host", "mcp.example.com"),
        ("content-type", "application/json"),
    ];
    let refused = http::request(rig.envoy.port(), "POST", "/mcp", &headers, initialize);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"mcp.example.com\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"")
    );
    let document = http::get(
        rig.envoy.port(),
        "/.well-known/oauth-protected-resource/mcp",
        &host,
    );
    assert_eq!(document.status, 200);
    assert_eq!(
        document.body,
        r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://login.example.com"],"bearer_methods_supported":["header"],"scopes_supported":["tools:read","tools:call"],"resource_name":"Example tools (MCP)"}"#
    );
    let token = rig.token(TestKey::Rsa1, json!({}), json!({}));
    assert_eq!(rig.status("POST", "/mcp", Some(&token), &host), 200);
    let from_chat = [
        ("host", "mcp.example.com"),
        ("origin", "https://chat.example.com"),
    ];
    let readable = http::get(rig.envoy.port(), "/mcp", &from_chat);
    assert_eq!(
        readable.header("access-control-allow-origin"),
        Some("https://chat.example.com")
    );
    assert_eq!(
        readable.header("access-control-expose-headers"),
        Some("WWW-Authenticate, DPoP-Nonce")
    );
}

#[test]
fn the_first_example_can_be_tried_as_the_docs_say() {
    // The `first-try` commands, run as written against the `first` example.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let block = text
        .split("<!-- command: first-try -->\n```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the first-try commands");
    let mint_line = block.lines().next().unwrap();
    let mint = mint_line
        .strip_prefix("TOKEN=$(audgate ")
        .and_then(|rest| rest.strip_suffix(')'))
        .expect("TOKEN=$(audgate mint …)");
    let audgate = env!("CARGO_BIN_EXE_audgate");
    let run = |args: &[&str]| Command::new(audgate).args(args).output().unwrap();
    let config = support::temp::dir("first-try").join("config.json");
    std::fs::write(&config, &examples()["first"].1).unwrap();
    for (scope, status, said) in [
        ("orders:read", Some(0), "200 allowed (provider corp-idp)"),
        ("orders:write", Some(1), "403 refused"),
    ] {
        let args: Vec<String> = mint
            .split(' ')
            .map(|arg| {
                if arg == "orders:read" {
                    scope.to_owned()
                } else {
                    arg.to_owned()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let minted = run(&args);
        assert!(
            minted.status.success(),
            "{}",
            String::from_utf8_lossy(&minted.stderr)
        );
        let token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
        let verified = run(&[
            "verify",
            "--config",
            config.to_str().unwrap(),
            "--path",
            "/orders",
            &token,
        ]);
        let text = String::from_utf8_lossy(&verified.stdout);
        assert_eq!(verified.status.code(), status, "{text}");
        assert!(text.starts_with(said), "{text}");
    }
}
