//! The policy oracle: the decision config's providers and rules as
//! docs/configuration.md ("Rule", "Provider") describes them, read from the config
//! JSON; which valid token vouches for which provider; and first-match rule
//! matching (`rule_for`).

use serde_json::Value;

use super::path::without_trailing_slash;

/// How a rule of the oracle matches a resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OraclePath {
    Prefix(String),
    Exact(String),
}

/// One rule as the oracle reads it from the config JSON.
#[derive(Debug, Clone)]
pub(crate) struct OracleRule {
    path: OraclePath,
    /// Empty: any method.
    methods: Vec<String>,
    /// Empty: `requires: "none"`.
    providers: Vec<usize>,
    all: bool,
    allow_missing: bool,
}

/// What a request must carry: a rule's requirement, or the fallback's.
#[derive(Debug, Clone)]
pub(crate) struct Need {
    /// Empty: nothing (`none`).
    pub(crate) providers: Vec<usize>,
    pub(crate) all: bool,
    pub(crate) allow_missing: bool,
}

impl Need {
    /// Whether a request without any token fails it.
    pub(crate) fn needs_token(&self) -> bool {
        !self.providers.is_empty() && !self.allow_missing
    }
}

/// One provider as the oracle reads it from the config JSON.
#[derive(Debug, Clone)]
pub(crate) struct OracleProvider {
    issuer: String,
    audiences: Vec<String>,
    /// (header name, value prefix).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) params: Vec<String>,
    pub(crate) cookies: Vec<String>,
    pub(crate) payload_header: Option<String>,
    pub(crate) outputs: Vec<String>,
}

/// Decodes base64url without padding (the oracle's own, for reading payloads).
fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The providers and rules of `config` as docs/configuration.md describes them.
pub(crate) fn read_oracle(config: &Value) -> (Vec<OracleProvider>, Vec<OracleRule>) {
    let mut names = Vec::new();
    let mut providers = Vec::new();
    for provider in config["providers"].as_array().expect("providers") {
        names.push(provider["name"].as_str().expect("name").to_owned());
        let headers = match provider.get("from_headers") {
            None => vec![("authorization".to_owned(), "Bearer ".to_owned())],
            Some(list) => list
                .as_array()
                .expect("from_headers")
                .iter()
                .map(|source| {
                    (
                        source["name"].as_str().expect("name").to_ascii_lowercase(),
                        source["value_prefix"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
        };
        let payload_header = provider["forward_payload_header"]
            .as_str()
            .map(str::to_owned);
        let mut outputs: Vec<String> = payload_header.iter().cloned().collect();
        for entry in provider["claim_to_headers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            outputs.push(entry["header"].as_str().expect("header").to_owned());
        }
        providers.push(OracleProvider {
            issuer: provider["issuer"].as_str().expect("issuer").to_owned(),
            audiences: strings(&provider["audiences"]),
            headers,
            params: strings(&provider["from_params"]),
            cookies: strings(&provider["from_cookies"]),
            payload_header,
            outputs,
        });
    }
    let index = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("rule names unknown provider {name}"))
    };
    let mut rules = Vec::new();
    for rule in config["rules"].as_array().into_iter().flatten() {
        let at = &rule["match"];
        let path = match (at["prefix"].as_str(), at["path"].as_str()) {
            (Some(prefix), None) => OraclePath::Prefix(prefix.to_owned()),
            (None, Some(exact)) => OraclePath::Exact(exact.to_owned()),
            _ => panic!("a rule matches by prefix or by path: {rule}"),
        };
        let (providers, all) = match &rule["requires"] {
            Value::String(none) if none == "none" => (Vec::new(), false),
            Value::String(name) => (vec![index(name)], false),
            Value::Object(group) => match (group.get("any"), group.get("all")) {
                (Some(any), None) => (strings(any).iter().map(|n| index(n)).collect(), false),
                (None, Some(all)) => (strings(all).iter().map(|n| index(n)).collect(), true),
                _ => panic!("requires: any or all: {rule}"),
            },
            other => panic!("requires: {other}"),
        };
        rules.push(OracleRule {
            path,
            methods: strings(&at["methods"]),
            providers,
            all,
            allow_missing: rule["allow_missing"].as_bool().unwrap_or(false),
        });
    }
    (providers, rules)
}

/// `vouches[provider]`: the valid token `token` verifies for the provider, by its
/// `iss` and `aud` (read from its payload by the oracle's own decoder).
pub(crate) fn vouches(providers: &[OracleProvider], token: &str) -> Vec<bool> {
    let claims: Value = token
        .split('.')
        .nth(1)
        .and_then(b64url_decode)
        .and_then(|json| serde_json::from_slice(&json).ok())
        .expect("a valid token's payload is JSON");
    let aud = match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        other => strings(other),
    };
    providers
        .iter()
        .map(|p| {
            claims["iss"].as_str() == Some(p.issuer.as_str())
                && aud.iter().any(|a| p.audiences.contains(a))
        })
        .collect()
}

/// The first rule (index) of `rules` matching `method` and the resolved `path`,
/// `None` for the fallback. With `skip_lax`, rules that let a request through
/// without a token (`none`, `allow_missing`) are passed over, as they are for an
/// ambiguous path. Rules that need a token match ignoring ASCII case and a
/// trailing slash, and their `GET` covers `HEAD`; the others only the exact
/// spelling (docs: "Path spellings").
pub(crate) fn rule_for(
    rules: &[OracleRule],
    method: &str,
    path: &str,
    skip_lax: bool,
) -> Option<usize> {
    let folded = path.to_ascii_lowercase();
    rules.iter().position(|rule| {
        let lax = rule.providers.is_empty() || rule.allow_missing;
        let path_ok = match (&rule.path, lax) {
            (OraclePath::Prefix(prefix), true) => path.starts_with(prefix.as_str()),
            (OraclePath::Exact(exact), true) => path == exact,
            (OraclePath::Prefix(prefix), false) => {
                let prefix = prefix.to_ascii_lowercase();
                folded.starts_with(&prefix)
                    || (prefix.ends_with('/')
                        && without_trailing_slash(&folded) == without_trailing_slash(&prefix))
            }
            (OraclePath::Exact(exact), false) => {
                without_trailing_slash(&folded)
                    == without_trailing_slash(&exact.to_ascii_lowercase())
            }
        };
        let named = |wanted: &str| rule.methods.iter().any(|m| m.eq_ignore_ascii_case(wanted));
        let method_ok = rule.methods.is_empty()
            || named(method)
            || (!lax && method.eq_ignore_ascii_case("HEAD") && named("GET"));
        !(skip_lax && lax) && path_ok && method_ok
    })
}

/// What rule `rule` of `rules` (or the fallback: a token from any of the
/// `providers`) needs.
pub(crate) fn need(rules: &[OracleRule], providers: usize, rule: Option<usize>) -> Need {
    match rule.and_then(|i| rules.get(i)) {
        Some(rule) => Need {
            providers: rule.providers.clone(),
            all: rule.all,
            allow_missing: rule.allow_missing,
        },
        None => Need {
            providers: (0..providers).collect(),
            all: false,
            allow_missing: false,
        },
    }
}
