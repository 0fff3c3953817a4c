use serde_json::{json, Value};

use super::*;
use crate::policy::requirement::Demand;

const ED_KEY: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn jwks() -> Value {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ED_KEY, "kid": "ed"}]})
}

fn provider() -> Value {
    json!({"name": "p", "issuer": "https://issuer", "audiences": ["orders"], "local_jwks": jwks()})
}

fn compile(config: Value) -> Result<Config, ConfigError> {
    Config::from_json(config.to_string().as_bytes())
}

fn refused(config: Value) -> ConfigError {
    compile(config).expect_err("configuration should be refused")
}

fn with(mut base: Value, path: &[&str], value: Value) -> Value {
    let mut target = &mut base;
    for key in path {
        target = &mut target[*key];
    }
    *target = value;
    base
}

#[test]
fn minimal_config_gets_the_contract_defaults() {
    let config = compile(json!({ "providers": [provider()] })).unwrap();
    assert_eq!(config.mode, Mode::Enforce);
    assert_eq!(config.token_cache_size, 1000);
    assert!(!config.bypass_cors_preflight);
    assert_eq!(config.fallback, Requirement::Any(vec![Demand::of(0)]));
    let p = &config.providers[0];
    assert_eq!(
        p.from_headers,
        vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into()
        }]
    );
    assert!(!p.forward);
    assert_eq!(p.times.clock_skew_s, 60);
    assert!(p.times.require_exp);
    assert_eq!(p.times.max_lifetime_s, None);
    assert_eq!(p.algorithms.len(), 9, "every asymmetric algorithm");
    assert!(!p.algorithms.contains(&Algorithm::HS256));
}

#[test]
fn local_jwks_may_be_a_string_holding_json() {
    let p = with(provider(), &["local_jwks"], json!(jwks().to_string()));
    let config = compile(json!({ "providers": [p] })).unwrap();
    assert!(matches!(&config.providers[0].keys, KeySource::Local(set) if set.keys().len() == 1));
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let error = refused(json!({ "providers": [provider()], "modes": "audit" }));
    assert!(error.to_string().contains("modes"), "{error}");
    let p = with(provider(), &["audience"], json!(["x"]));
    let error = refused(json!({ "providers": [p] }));
    assert!(error.field.starts_with("providers[0]"), "{error}");
    assert!(error.to_string().contains("audience"), "{error}");
}

#[test]
fn audiences_missing_empty_or_blank_are_refused() {
    let mut p = provider();
    p.as_object_mut().unwrap().remove("audiences");
    assert!(refused(json!({ "providers": [p] }))
        .to_string()
        .contains("audiences"));
    let error = refused(json!({ "providers": [with(provider(), &["audiences"], json!([]))] }));
    assert_eq!(error.field, "providers[0].audiences");
    assert_eq!(error.problem, Problem::Empty);
    let error =
        refused(json!({ "providers": [with(provider(), &["audiences"], json!(["a", ""]))] }));
    assert_eq!(error.field, "providers[0].audiences[1]");
    let many: Vec<String> = (0..33).map(|i| format!("a{i}")).collect();
    let error = refused(json!({ "providers": [with(provider(), &["audiences"], json!(many))] }));
    assert_eq!(error.problem, Problem::TooMany { max: 32 });
}

#[test]
fn exactly_one_key_source() {
    let mut neither = provider();
    neither.as_object_mut().unwrap().remove("local_jwks");
    assert_eq!(
        refused(json!({ "providers": [neither] })).problem,
        Problem::KeySource
    );
    let both = with(
        provider(),
        &["remote_jwks"],
        json!({"uri": "https://idp/jwks", "cluster": "idp"}),
    );
    let error = refused(json!({ "providers": [both] }));
    assert_eq!(
        (error.field.as_str(), error.problem),
        ("providers[0]", Problem::KeySource)
    );
}

#[test]
fn remote_jwks_is_split_and_ranged() {
    let mut p = provider();
    p.as_object_mut().unwrap().remove("local_jwks");
    let remote = with(
        p.clone(),
        &["remote_jwks"],
        json!({"uri": "https://idp.example:8443/keys?v=2", "cluster": "idp"}),
    );
    let config = compile(json!({ "providers": [remote] })).unwrap();
    let KeySource::Remote(jwks) = &config.providers[0].keys else {
        panic!("remote expected")
    };
    assert_eq!(jwks.authority, "idp.example:8443");
    assert_eq!(jwks.path, "/keys?v=2");
    assert_eq!((jwks.timeout_ms, jwks.cache_duration_s), (2000, 300));

    for (field, value, path) in [
        (
            "uri",
            json!("ftp://idp/keys"),
            "providers[0].remote_jwks.uri",
        ),
        ("uri", json!("/keys"), "providers[0].remote_jwks.uri"),
        (
            "uri",
            json!("https:///keys"),
            "providers[0].remote_jwks.uri",
        ),
        (
            "timeout_ms",
            json!(0),
            "providers[0].remote_jwks.timeout_ms",
        ),
        (
            "timeout_ms",
            json!(60001),
            "providers[0].remote_jwks.timeout_ms",
        ),
        (
            "cache_duration_s",
            json!(86401),
            "providers[0].remote_jwks.cache_duration_s",
        ),
        ("cluster", json!(""), "providers[0].remote_jwks.cluster"),
    ] {
        let base = with(
            p.clone(),
            &["remote_jwks"],
            json!({"uri": "https://idp/keys", "cluster": "idp"}),
        );
        let error = refused(json!({ "providers": [with(base, &["remote_jwks", field], value)] }));
        assert_eq!(error.field, path, "{error}");
    }
}

#[test]
fn numbers_out_of_range_are_refused() {
    for (config, field) in [
        (
            json!({"providers": [provider()], "token_cache_size": 100001}),
            "token_cache_size",
        ),
        (
            json!({"providers": [with(provider(), &["clock_skew_s"], json!(301))]}),
            "providers[0].clock_skew_s",
        ),
        (
            json!({"providers": [with(provider(), &["max_lifetime_s"], json!(0))]}),
            "providers[0].max_lifetime_s",
        ),
    ] {
        assert_eq!(refused(config).field, field);
    }
    let negative = refused(json!({"providers": [with(provider(), &["clock_skew_s"], json!(-1))]}));
    assert_eq!(negative.field, "providers[0].clock_skew_s");
}

#[test]
fn provider_names_are_checked_and_unique() {
    for name in ["", "has space", "none", &"x".repeat(65)] {
        let error = refused(json!({ "providers": [with(provider(), &["name"], json!(name))] }));
        assert_eq!(
            (error.field.as_str(), error.problem),
            ("providers[0].name", Problem::InvalidName)
        );
    }
    let error = refused(json!({ "providers": [provider(), provider()] }));
    assert_eq!(error.field, "providers[1].name");
    assert_eq!(error.problem, Problem::Duplicate("p".into()));
    let error = refused(json!({ "providers": [] }));
    assert_eq!(error.problem, Problem::Empty);
    let many: Vec<Value> = (0..17)
        .map(|i| with(provider(), &["name"], json!(format!("p{i}"))))
        .collect();
    assert_eq!(
        refused(json!({ "providers": many })).problem,
        Problem::TooMany { max: 16 }
    );
}

#[test]
fn rules_must_name_known_providers() {
    let rule = |requires: Value| json!({"providers": [provider()], "rules": [{"match": {"prefix": "/"}, "requires": requires}]});
    let error = refused(rule(json!("q")));
    assert_eq!(
        (error.field.as_str(), error.problem),
        ("rules[0].requires", Problem::UnknownProvider("q".into()))
    );
    let error = refused(rule(json!({"any": ["p", "q"]})));
    assert_eq!(error.field, "rules[0].requires.any[1]");
    let error = refused(rule(json!({"all": []})));
    assert_eq!(error.problem, Problem::Empty);
    let error = refused(rule(json!({"any": ["p"], "all": ["p"]})));
    assert_eq!(error.problem, Problem::RequiresKind);
    let config = compile(rule(json!({"all": ["p"]}))).unwrap();
    assert_eq!(
        config.rules[0].requires,
        Requirement::All(vec![Demand::of(0)])
    );
    let config = compile(rule(json!("none"))).unwrap();
    assert_eq!(config.rules[0].requires, Requirement::None);
}

#[test]
fn rule_matches_need_one_kind_and_a_slash() {
    let rule = |matcher: Value| json!({"providers": [provider()], "rules": [{"match": matcher, "requires": "p"}]});
    assert_eq!(refused(rule(json!({}))).problem, Problem::MatchKind);
    assert_eq!(
        refused(rule(json!({"prefix": "/a", "path": "/b"}))).problem,
        Problem::MatchKind
    );
    assert_eq!(
        refused(rule(json!({"prefix": "a"}))).problem,
        Problem::InvalidPath
    );
    assert_eq!(
        refused(rule(json!({"path": "/a", "methods": ["G T"]}))).problem,
        Problem::InvalidMethod
    );
    assert!(refused(rule(json!({"path": "/a", "method": ["GET"]})))
        .to_string()
        .contains("method"));
}

#[test]
fn algorithms_are_known_and_never_none() {
    let error = refused(
        json!({"providers": [with(provider(), &["algorithms"], json!(["RS256", "none"]))]}),
    );
    assert_eq!(
        (error.field.as_str(), error.problem),
        ("providers[0].algorithms[1]", Problem::AlgorithmNone)
    );
    let error =
        refused(json!({"providers": [with(provider(), &["algorithms"], json!(["RS257"]))]}));
    assert_eq!(error.problem, Problem::UnknownAlgorithm("RS257".into()));
    let error = refused(json!({"providers": [with(provider(), &["algorithms"], json!([]))]}));
    assert_eq!(error.problem, Problem::Empty);
}

#[test]
fn local_jwks_must_hold_a_usable_key() {
    let error =
        refused(json!({"providers": [with(provider(), &["local_jwks"], json!({"keys": []}))]}));
    assert_eq!(
        (error.field.as_str(), error.problem),
        ("providers[0].local_jwks", Problem::NoUsableKey(Vec::new()))
    );
    let error =
        refused(json!({"providers": [with(provider(), &["local_jwks"], json!("{not json"))]}));
    assert!(matches!(error.problem, Problem::Jwks(_)));
    let secret =
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]});
    let error = refused(json!({"providers": [with(provider(), &["local_jwks"], secret.clone())]}));
    assert!(
        matches!(&error.problem, Problem::NoUsableKey(skipped) if skipped.len() == 1),
        "oct keys need an HS algorithm named: {error}"
    );
    let p = with(
        with(provider(), &["local_jwks"], secret),
        &["algorithms"],
        json!(["HS256"]),
    );
    assert!(compile(json!({ "providers": [p] })).is_ok());
}

#[test]
fn header_outputs_and_sources_are_header_names() {
    let error = refused(
        json!({"providers": [with(provider(), &["forward_payload_header"], json!("bad header"))]}),
    );
    assert_eq!(error.problem, Problem::InvalidHeaderName);
    let error = refused(
        json!({"providers": [with(provider(), &["claim_to_headers"], json!([{"claim": "sub", "header": ":path"}]))]}),
    );
    assert_eq!(error.field, "providers[0].claim_to_headers[0].header");
    let error = refused(json!({"providers": [with(provider(), &["from_headers"], json!([]))]}));
    assert_eq!(error.problem, Problem::NoTokenSource);
    let p = with(provider(), &["from_headers"], json!([{"name": "X-Token"}]));
    let config = compile(
        json!({ "providers": [with(p, &["forward_payload_header"], json!("X-JWT-Payload"))] }),
    )
    .unwrap();
    assert_eq!(config.providers[0].from_headers[0].name, "x-token");
    assert_eq!(config.providers[0].from_headers[0].value_prefix, "");
    assert!(config.output_headers.contains(&"x-jwt-payload".to_owned()));
    assert!(config
        .output_headers
        .contains(&WOULD_REJECT_HEADER.to_owned()));
}

#[test]
fn required_claims_take_a_string_or_a_list() {
    let p = with(
        provider(),
        &["required_claims"],
        json!({"scope": "read", "roles": ["a", "b"]}),
    );
    let config = compile(json!({ "providers": [p] })).unwrap();
    assert_eq!(config.providers[0].required_claims.len(), 2);
    let p = with(provider(), &["required_claims"], json!({"scope": []}));
    assert_eq!(
        refused(json!({ "providers": [p] })).field,
        "providers[0].required_claims.scope"
    );
    let p = with(provider(), &["required_claims"], json!({"scope": 1}));
    assert!(refused(json!({ "providers": [p] }))
        .field
        .contains("required_claims"));
}

#[test]
fn mode_and_garbage() {
    let config = compile(json!({"providers": [provider()], "mode": "audit"})).unwrap();
    assert_eq!(config.mode, Mode::Audit);
    assert!(refused(json!({"providers": [provider()], "mode": "Audit"}))
        .to_string()
        .contains("mode"));
    assert_eq!(Config::from_json(b"").unwrap_err().field, "configuration");
    assert_eq!(
        Config::from_json(&[0xff, 0xfe]).unwrap_err().problem,
        Problem::NotUtf8
    );
    assert!(Config::from_json(b"[]").is_err());
}

#[test]
fn version_2_fields_are_refused_with_their_field_named() {
    let rule = |rule: Value| json!({"providers": [provider()], "rules": [rule]});
    let with_provider = |extra: Value| {
        let mut p = provider();
        for (key, value) in extra.as_object().unwrap() {
            p[key] = value.clone();
        }
        json!({"providers": [p]})
    };
    for (config, message) in [
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"provider": "p", "audiences": []}})),
            "rules[0].requires.audiences: must not be empty",
        ),
        (
            rule(json!({"match": {"template": "/a/**/b"}, "requires": "p"})),
            "rules[0].match.template: '**' only at the end",
        ),
        (
            rule(json!({"match": {"template": "/a/{t}", "prefix": "/a"}, "requires": "p"})),
            "rules[0].match: exactly one of prefix, path and template",
        ),
        (
            with_provider(json!({"token_types": [""]})),
            "providers[0].token_types[0]: must not be empty",
        ),
        (
            with_provider(json!({"token_types": []})),
            "providers[0].token_types: must not be empty",
        ),
        (
            with_provider(json!({"required_claims": {"tenant": {"one_of": []}}})),
            "providers[0].required_claims.tenant.one_of: must not be empty",
        ),
        (
            with_provider(json!({"required_claims": {"tenant": {"any_of": ["a"]}}})),
            "providers[0].required_claims.tenant: expected a string, a list of strings or {\"one_of\": [strings]}",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"provider": "p", "claims": {"t": "${path.t}"}}})),
            "rules[0].requires.claims.t: ${path.t}: the rule's match.template has no variable {t}",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"provider": "p", "claims": {"t": "${query.t}"}}})),
            "rules[0].requires.claims.t: unknown placeholder \"${query.t}\" here (write $$ for a literal $)",
        ),
        // Issue 21, finding 12: placeholders in a provider's required_claims.
        (
            with_provider(json!({"required_claims": {"tenant": "${path.tenant}"}})),
            "providers[0].required_claims.tenant: ${path.tenant} is only allowed in a rule's claims; write $$ for a literal $",
        ),
        (
            with_provider(json!({"required_claims": {"tenant": {"one_of": ["acme", "${header.x-tenant}"]}}})),
            "providers[0].required_claims.tenant.one_of[1]: ${header.x-tenant} is only allowed in a rule's claims; write $$ for a literal $",
        ),
        (
            with_provider(json!({"required_claims": {"ns": ["${node.NAMESPACE}"]}})),
            "providers[0].required_claims.ns[0]: ${node.NAMESPACE} is only allowed in audiences; write $$ for a literal $",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"provider": "p", "claims": {"t": "${node.NS}"}}})),
            "rules[0].requires.claims.t: ${node.NS} is only allowed in audiences; write $$ for a literal $",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"any": ["p", {"provider": "q"}]}})),
            "rules[0].requires.any[1].provider: no provider named \"q\"",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"provider": "p", "audience": ["a"]}})),
            "rules[0].requires.audience: unknown field; did you mean audiences?",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"all": ["none"]}})),
            "rules[0].requires.all[0]: \"none\" cannot be one of any/all: use requires: \"none\"",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": 7})),
            "rules[0].requires: expected \"none\", a provider name, {\"provider\": ...}, {\"any\": [...]} or {\"all\": [...]}",
        ),
        (
            rule(json!({"match": {"prefix": "/"}, "requires": {"audiences": ["a"]}})),
            "rules[0].requires.provider: is required",
        ),
        (
            with_provider(json!({"audiences": ["${node.NAMESPACE}"]})),
            "providers[0].audiences[0]: ${node.NAMESPACE}: the proxy's node metadata has no string value NAMESPACE",
        ),
    ] {
        assert_eq!(refused(config).to_string(), message);
    }
}

#[test]
fn version_2_fields_compile() {
    let text = json!({
        "providers": [{
            "name": "p", "issuer": "https://issuer", "audiences": ["spiffe://c/ns/${node.NAMESPACE}/sa/x"],
            "local_jwks": jwks(), "token_types": ["Application/AT+JWT"], "algorithms": ["Ed25519"],
        }],
        "rules": [{"match": {"template": "/t/{tenant}/**"}, "requires": {"any": [
            "p", {"provider": "p", "audiences": ["admin"], "claims": {"tenant": "${path.tenant}"}},
        ]}}],
    })
    .to_string();
    assert!(
        Config::from_json(text.as_bytes()).is_err(),
        "no node metadata: refused"
    );
    let node = |key: &str| (key == "NAMESPACE").then(|| "shop".to_string());
    let config = Config::from_json_with_node(text.as_bytes(), &node).unwrap();
    let p = &config.providers[0];
    assert_eq!(p.audiences, vec!["spiffe://c/ns/shop/sa/x"]);
    assert_eq!(p.token_types, vec!["at+jwt"]);
    assert_eq!(p.algorithms, vec![jsonwebtoken::Algorithm::EdDSA]);
    let Requirement::Any(demands) = &config.rules[0].requires else {
        panic!("any");
    };
    assert_eq!(demands[0], Demand::of(0));
    assert_eq!(
        demands[1].audiences.as_deref(),
        Some(&["admin".to_string()][..])
    );
    assert_eq!(demands[1].claims.len(), 1);
}

/// `Config::from_json` on JSON text; the refusal's whole message.
fn refusal(text: &str) -> String {
    Config::from_json(text.as_bytes())
        .expect_err("configuration should be refused")
        .to_string()
}

#[test]
fn parser_errors_name_the_field_and_what_it_takes_in_plain_words() {
    let p = r#""name": "p", "issuer": "https://issuer", "local_jwks": {"keys": []}"#;
    for (text, message) in [
        ("null", "configuration: must be an object, not null"),
        ("[]", "configuration: must be an object, not a list"),
        (r#"{"providers": null}"#, "providers: must be a list, not null"),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": "orders"}}]}}"#),
            "providers[0].audiences: must be a list, not the string \"orders\"",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": [7]}}]}}"#),
            "providers[0].audiences[0]: must be a string, not the number 7",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "clock_skew_s": "30s"}}]}}"#),
            "providers[0].clock_skew_s: must be a whole number, not the string \"30s\"",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "clock_skew_s": 1.5}}]}}"#),
            "providers[0].clock_skew_s: must be a whole number, not the number 1.5",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "clock_skew_s": -5}}]}}"#),
            "providers[0].clock_skew_s: must be a whole number 0 or more, not -5",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "forward": "yes"}}]}}"#),
            "providers[0].forward: must be true or false, not the string \"yes\"",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "required_claims": []}}]}}"#),
            "providers[0].required_claims: must be an object, not a list",
        ),
        (
            &format!(r#"{{"providers": [{{{p}}}]}}"#),
            "providers[0].audiences: is required",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audience": ["o"]}}]}}"#),
            "providers[0].audience: unknown field; did you mean audiences?",
        ),
        (
            &format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "from_headers": [{{"nam": "x"}}]}}]}}"#),
            "providers[0].from_headers[0].nam: unknown field; did you mean name?",
        ),
        (
            r#"{"providers": [], "x": 1}"#,
            "x: unknown field; the fields here are providers, rules, mode, token_cache_size, bypass_cors_preflight",
        ),
        (
            r#"{"providers": [], "providers": []}"#,
            "providers: given twice in the same object: keep one",
        ),
        (r#"{"providers": [], "mode": "Audit"}"#, "mode: must be \"enforce\" or \"audit\", not the string \"Audit\""),
        (r#"{"providers": [], "mode": 3}"#, "mode: must be \"enforce\" or \"audit\""),
        (r#"{"providers": [],}"#, "configuration: not valid JSON: trailing comma at line 1 column 18"),
    ] {
        let said = refusal(text);
        assert!(said.starts_with(message), "{text}\n  said: {said}\n  want: {message}");
        for internal in ["Raw", "struct", "u64", "untagged", "sequence", "a map", "`"] {
            assert!(!said.contains(internal), "{internal} in: {said}");
        }
        if !said.starts_with("configuration: not valid JSON") {
            assert!(!said.contains("line 1"), "a position in: {said}");
        }
    }
}

#[test]
fn a_local_jwks_without_a_usable_key_says_why_each_key_was_skipped() {
    let small_rsa = json!({"kty": "RSA", "kid": "old", "n": "AQAB", "e": "AQAB"});
    let unknown = json!({"kty": "XYZ"});
    let secret =
        json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
    let p = with(
        provider(),
        &["local_jwks"],
        json!({"keys": [small_rsa, unknown, secret]}),
    );
    let said = refused(json!({ "providers": [p] })).to_string();
    assert_eq!(
        said,
        "providers[0].local_jwks: holds no usable key: key 0 (kid \"old\"): RSA modulus under 2048 bits; \
         key 1 (no kid): unsupported kty; key 2 (kid \"s\"): oct key not allowed here \
         (an oct key is used only when algorithms names HS256, HS384 or HS512)"
    );
    let p = with(provider(), &["local_jwks"], json!({"keys": []}));
    assert_eq!(
        refused(json!({ "providers": [p] })).to_string(),
        "providers[0].local_jwks: holds no usable key: its \"keys\" list is empty"
    );
}

#[test]
fn no_untagged_enum_is_left_in_the_raw_shapes() {
    let raw = include_str!("raw.rs");
    assert!(
        !raw.contains("untagged"),
        "an untagged enum's error names no field"
    );
}
