//! The `introspection` key source in the configuration: its fields and ranges,
//! its secret read from the VM's environment, and the rules that keep a token
//! from reaching another authorization server.

use audgate::config::{Config, Lookups};
use serde_json::{json, Value};

use crate::support::cases;
use crate::support::keys;

/// `cases::config()` plus an `introspection` provider `opaque` with
/// `introspection` merged over the minimal one, and `extra` merged into the
/// configuration.
fn with(introspection: Value, extra: Value) -> Value {
    let mut config = cases::config();
    let settings = keys::merged(
        json!({"uri": "https://as.example/introspect", "cluster": "as", "client_id": "orders-api"}),
        &introspection,
    );
    config["providers"].as_array_mut().unwrap().push(json!({
        "name": "opaque",
        "issuer": "https://as.example",
        "audiences": [cases::AUDIENCE],
        "introspection": settings,
    }));
    keys::merged(config, &extra)
}

fn compiled(config: &Value) -> Result<Config, String> {
    let env = |name: &str| (name == "AS_SECRET").then(|| "s3cret".to_owned());
    let lookups = Lookups {
        node: &|_| None,
        env: &env,
    };
    Config::from_json_in(config.to_string().as_bytes(), &lookups).map_err(|e| e.to_string())
}

#[test]
fn defaults_and_ranges() {
    let config = compiled(&with(json!({}), json!({}))).unwrap();
    let settings = config.providers[1].introspection().unwrap();
    assert_eq!(settings.endpoint.timeout.as_millis(), 2000);
    assert_eq!(
        (settings.reuse.active_s, settings.reuse.inactive_s),
        (60, 5)
    );
    assert_eq!(settings.max_pending, 64);
    assert_eq!(settings.endpoint.authority, "as.example");
    assert_eq!(settings.endpoint.path, "/introspect");
    for (field, value, words) in [
        (
            "timeout_ms",
            json!(0),
            "providers[1].introspection.timeout_ms",
        ),
        (
            "timeout_ms",
            json!(60_001),
            "providers[1].introspection.timeout_ms",
        ),
        (
            "cache_duration_s",
            json!(0),
            "providers[1].introspection.cache_duration_s",
        ),
        (
            "cache_duration_s",
            json!(3601),
            "providers[1].introspection.cache_duration_s",
        ),
        (
            "inactive_cache_s",
            json!(61),
            "providers[1].introspection.inactive_cache_s",
        ),
        (
            "max_pending",
            json!(0),
            "providers[1].introspection.max_pending",
        ),
        (
            "max_pending",
            json!(10_001),
            "providers[1].introspection.max_pending",
        ),
        (
            "uri",
            json!("as.example/introspect"),
            "providers[1].introspection.uri",
        ),
        ("cluster", json!(""), "providers[1].introspection.cluster"),
        (
            "client_id",
            json!(""),
            "providers[1].introspection.client_id",
        ),
    ] {
        let error = compiled(&with(json!({field: value}), json!({}))).unwrap_err();
        assert!(error.starts_with(words), "{field}={value}: {error}");
    }
    let zero = compiled(&with(json!({"inactive_cache_s": 0}), json!({}))).unwrap();
    assert_eq!(
        zero.providers[1].introspection().unwrap().reuse.inactive_s,
        0
    );
}

#[test]
fn client_id_is_required_and_the_secret_comes_from_the_environment() {
    let mut config = with(json!({}), json!({}));
    config["providers"][1]["introspection"]
        .as_object_mut()
        .unwrap()
        .remove("client_id");
    let error = compiled(&config).unwrap_err();
    assert!(error.contains("client_id"), "{error}");
    let basic = compiled(&with(json!({"client_secret_env": "AS_SECRET"}), json!({}))).unwrap();
    let shown = format!("{:?}", basic.providers[1]);
    assert!(
        !shown.contains("s3cret"),
        "the secret is never shown: {shown}"
    );
    assert!(shown.contains("Basic"), "{shown}");
    let missing = compiled(&with(json!({"client_secret_env": "NOT_SET"}), json!({}))).unwrap_err();
    assert!(
        missing.starts_with("providers[1].introspection.client_secret_env"),
        "{missing}"
    );
    assert!(missing.contains("NOT_SET"), "{missing}");
}

#[test]
fn exactly_one_key_source_and_no_token_types() {
    let mut both = with(json!({}), json!({}));
    both["providers"][1]["local_jwks"] = keys::jwks(&[keys::TestKey::Rsa1]);
    let error = compiled(&both).unwrap_err();
    assert!(
        error.contains("exactly one of remote_jwks, local_jwks and introspection"),
        "{error}"
    );
    let mut typed = with(json!({}), json!({}));
    typed["providers"][1]["token_types"] = json!(["at+jwt"]);
    let error = compiled(&typed).unwrap_err();
    assert!(error.starts_with("providers[1].token_types"), "{error}");
    assert!(
        error.contains("remove token_types or introspection"),
        "{error}"
    );
}

#[test]
fn a_requirement_names_at_most_one_introspection_provider() {
    let mut config = with(json!({}), json!({}));
    let mut second = config["providers"][1].clone();
    second["name"] = json!("other-as");
    config["providers"].as_array_mut().unwrap().push(second);
    config["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"any": ["orders-idp", "opaque", "other-as"]}}]);
    let error = compiled(&config).unwrap_err();
    assert!(error.starts_with("rules[0].requires"), "{error}");
    assert!(error.contains("opaque and other-as"), "{error}");
    // One each, by rule: accepted; a request no rule matches asks neither.
    config["rules"] = json!([
        {"match": {"prefix": "/a"}, "requires": {"any": ["orders-idp", "opaque"]}},
        {"match": {"prefix": "/b"}, "requires": "other-as"},
    ]);
    let accepted = compiled(&config).unwrap();
    let fallback: Vec<usize> = accepted
        .fallback
        .demands()
        .iter()
        .map(|d| d.provider)
        .collect();
    assert_eq!(fallback, vec![0]);
    // With one introspection provider, the fallback takes it as any other.
    let one = compiled(&with(json!({}), json!({}))).unwrap();
    let fallback: Vec<usize> = one.fallback.demands().iter().map(|d| d.provider).collect();
    assert_eq!(fallback, vec![0, 1]);
}
