//! The `exchange` section's checks, each in the user's words.

use serde_json::{json, Value};

use crate::config::{Config, ConfigError, Lookups};
use crate::exchange::destination::Matcher;
use crate::exchange::grant::ClientAuth;
use crate::exchange::settings::Unmatched;

fn exchange(extra: Value) -> Value {
    let mut section = json!({
        "token_endpoint": "https://sts.example/oauth2/token",
        "cluster": "sts",
        "destinations": [{"hosts": ["payments.shop.svc"], "audience": "payments"}],
    });
    if let (Some(section), Some(extra)) = (section.as_object_mut(), extra.as_object()) {
        section.extend(extra.clone());
    }
    json!({ "exchange": section })
}

fn compile_with_env(
    config: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let node = |key: &str| (key == "SERVICE").then(|| "orders".to_owned());
    Config::from_json_in(config.to_string().as_bytes(), &Lookups { node: &node, env })
}

fn compile(config: &Value) -> Result<Config, ConfigError> {
    compile_with_env(config, &|_| None)
}

fn error(config: &Value) -> String {
    compile(config).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn exchange_alone_is_a_whole_configuration_with_the_contract_defaults() {
    let config = compile(&exchange(json!({}))).unwrap();
    assert!(config.providers.is_empty());
    let exchange = config.exchange.unwrap();
    assert_eq!(exchange.endpoint.authority, "sts.example");
    assert_eq!(exchange.endpoint.path, "/oauth2/token");
    assert_eq!(exchange.endpoint.timeout.as_millis(), 2000);
    assert_eq!(exchange.client, ClientAuth::None);
    assert_eq!(
        exchange.subject_token_type,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(exchange.from_headers.len(), 1);
    assert_eq!(exchange.from_headers[0].name, "authorization");
    assert_eq!(exchange.from_headers[0].value_prefix, "Bearer ");
    assert_eq!(exchange.unmatched, Unmatched::Remove);
    assert_eq!(exchange.cache_size, 1000);
    assert_eq!(exchange.destinations[0].prefix, "/");
}

#[test]
fn neither_providers_nor_exchange_names_both() {
    let text = error(&json!({"mode": "enforce"}));
    assert!(text.starts_with("providers: is required"), "{text}");
    assert!(text.contains("exchange"), "{text}");
}

#[test]
fn the_secret_comes_from_the_environment_and_never_shows() {
    let with = exchange(json!({"client_id": "orders", "client_secret_env": "STS_SECRET"}));
    let env = |name: &str| (name == "STS_SECRET").then(|| "s3cr+t/=".to_owned());
    let config = compile_with_env(&with, &env).unwrap();
    let client = &config.exchange.as_ref().unwrap().client;
    assert_eq!(
        client,
        &ClientAuth::Basic {
            client_id: "orders".into(),
            secret: "s3cr+t/=".into()
        }
    );
    assert!(
        !format!("{config:?}").contains("s3cr+t"),
        "Debug shows no secret"
    );
    let missing = compile(&with).unwrap_err().to_string();
    assert!(
        missing.starts_with("exchange.client_secret_env:"),
        "{missing}"
    );
    assert!(
        missing.contains("STS_SECRET") && missing.contains("vmConfig.env"),
        "{missing}"
    );
    let empty = compile_with_env(&with, &|_| Some(String::new())).unwrap_err();
    assert_eq!(empty.field, "exchange.client_secret_env");
}

#[test]
fn a_secret_needs_a_client_id_and_a_real_variable_name() {
    let text = error(&exchange(json!({"client_secret_env": "S"})));
    assert!(text.contains("needs client_id"), "{text}");
    let text = error(&exchange(
        json!({"client_id": "a", "client_secret_env": "not a name"}),
    ));
    assert!(
        text.starts_with("exchange.client_secret_env: must be an environment variable name"),
        "{text}"
    );
}

#[test]
fn client_id_alone_is_for_the_clusters_certificate() {
    let config = compile(&exchange(json!({"client_id": "orders"}))).unwrap();
    assert_eq!(
        config.exchange.unwrap().client,
        ClientAuth::ClientId("orders".into())
    );
}

#[test]
fn ranges_and_words() {
    for (extra, field) in [
        (json!({"timeout_ms": 0}), "exchange.timeout_ms"),
        (json!({"timeout_ms": 60001}), "exchange.timeout_ms"),
        (json!({"cache_size": 100001}), "exchange.cache_size"),
        (
            json!({"token_endpoint": "sts.example/token"}),
            "exchange.token_endpoint",
        ),
        (json!({"cluster": ""}), "exchange.cluster"),
        (json!({"from_headers": []}), "exchange.from_headers"),
        (json!({"destinations": []}), "exchange.destinations"),
    ] {
        let refused = compile(&exchange(extra.clone())).unwrap_err();
        assert_eq!(refused.field, field, "{extra}");
    }
    let text = error(&exchange(json!({"unmatched": "drop"})));
    assert_eq!(
        text,
        "exchange.unmatched: must be one of \"remove\", \"refuse\", \"forward\""
    );
    for (word, unmatched) in [
        ("refuse", Unmatched::Refuse),
        ("forward", Unmatched::Forward),
    ] {
        let config = compile(&exchange(json!({ "unmatched": word }))).unwrap();
        assert_eq!(config.exchange.unwrap().unmatched, unmatched);
    }
}

#[test]
fn destinations_need_one_matcher_and_a_target() {
    let cases = [
        (
            json!({"audience": "a"}),
            "exchange.destinations[0]: exactly one of hosts",
        ),
        (
            json!({"hosts": ["a"], "clusters": ["b"], "audience": "a"}),
            "exchange.destinations[0]: exactly one of hosts",
        ),
        (
            json!({"hosts": ["a"]}),
            "exchange.destinations[0]: needs audience, resource or both",
        ),
        (
            json!({"hosts": [], "audience": "a"}),
            "exchange.destinations[0].hosts: must not be empty",
        ),
        (
            json!({"hosts": ["a/b"], "audience": "a"}),
            "exchange.destinations[0].hosts[0]: must be a host name",
        ),
        (
            json!({"hosts": ["a:http"], "audience": "a"}),
            "exchange.destinations[0].hosts[0]: must be a host name",
        ),
        (
            json!({"hosts": ["a"], "audience": "a", "prefix": "x"}),
            "exchange.destinations[0].prefix: must start with",
        ),
        (
            json!({"hosts": ["a"], "resource": "payments"}),
            "exchange.destinations[0].resource: must be an absolute URI",
        ),
        (
            json!({"hosts": ["a"], "audience": "a", "scope": "read  write"}),
            "exchange.destinations[0].scope:",
        ),
        (
            json!({"hosts": ["a"], "audience": "a\nb"}),
            "exchange.destinations[0].audience: must be printable",
        ),
        (
            json!({"hosts": ["a"], "audience": "a", "sope": "x"}),
            "exchange.destinations[0].sope: unknown field; did you mean scope?",
        ),
    ];
    for (destination, wanted) in cases {
        let text = error(&exchange(json!({ "destinations": [destination] })));
        assert!(text.starts_with(wanted), "{destination}: {text}");
    }
    let many: Vec<Value> = (0..65)
        .map(|n| json!({"hosts": [format!("h{n}")], "audience": "a"}))
        .collect();
    assert_eq!(
        error(&exchange(json!({ "destinations": many }))),
        "exchange.destinations: at most 64 entries"
    );
}

#[test]
fn destinations_compile_hosts_clusters_and_node_placeholders() {
    let config = compile(&exchange(json!({"destinations": [
        {"hosts": ["Payments.Shop.SVC.", "pay:8443"], "audience": "${node.SERVICE}-payments", "scope": "pay read", "requires_token": true},
        {"clusters": ["outbound|80||ledger"], "resource": "spiffe://cluster.local/ns/shop/sa/ledger", "prefix": "/v1"},
    ]}))).unwrap();
    let exchange = config.exchange.unwrap();
    let [first, second] = exchange.destinations.as_slice() else {
        panic!()
    };
    let Matcher::Hosts(hosts) = &first.matcher else {
        panic!()
    };
    assert_eq!(hosts[0].name, "payments.shop.svc");
    assert_eq!(hosts[1].port, Some(8443));
    assert_eq!(first.audience.as_deref(), Some("orders-payments"));
    assert_eq!(first.scope.as_deref(), Some("pay read"));
    assert!(first.requires_token);
    assert_eq!(
        second.matcher,
        Matcher::Clusters(vec!["outbound|80||ledger".into()])
    );
    assert_eq!(second.prefix, "/v1");
    assert!(!second.requires_token);
}

#[test]
fn providers_and_exchange_together_make_a_gateway() {
    let mut config = exchange(json!({}));
    config["providers"] = json!([{
        "name": "idp", "issuer": "https://idp", "audiences": ["gateway"],
        "local_jwks": {"keys": [{"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
    }]);
    let config = compile(&config).unwrap();
    assert_eq!(config.providers.len(), 1);
    assert!(config.exchange.is_some());
}
