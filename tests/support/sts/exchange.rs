//! The token exchange itself (RFC 8693 §2): the client authenticated, the
//! request checked in order, the subject token verified, and a token minted for
//! the target, or the OAuth error (RFC 6749 §5.2, RFC 8693 §2.2.2) that refuses it.

use std::str::FromStr;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};

use super::form::{self, every, first};
use super::settings::{StsClient, StsSettings};
use crate::support::keys::{self, TestKey};
use crate::support::upstream::Request;

/// `grant_type` of a token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The token type of a JWT.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The only fields that may repeat (RFC 8693 §2.1).
const REPEATABLE: [&str; 2] = ["audience", "resource"];

/// A minted token and its life in seconds.
pub struct Minted {
    pub token: String,
    pub expires_in: u64,
}

/// An OAuth error answer: status, `error` and `error_description`.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
    pub description: String,
}

pub fn refusal(status: u16, error: &str, description: impl Into<String>) -> Refusal {
    let (error, description) = (error.into(), description.into());
    Refusal {
        status,
        error,
        description,
    }
}

fn invalid(error: &str, description: impl Into<String>) -> Refusal {
    refusal(400, error, description)
}

/// Exchanges `request`'s subject token for one signed with `signing`; `serial`
/// (the request's number) makes its `jti`.
pub fn exchange(
    settings: &StsSettings,
    signing: TestKey,
    serial: usize,
    request: &Request,
    certified: Option<&str>,
) -> Result<Minted, Refusal> {
    let fields = form::parse(&request.body);
    let clients = Clients {
        known: &settings.clients,
        anonymous: settings.anonymous,
    };
    let client = authenticate(&clients, request, fields.as_deref(), certified)?;
    let fields = well_formed(request, fields)?;
    match first(&fields, "grant_type") {
        Some(GRANT_TYPE) => {}
        Some(other) => return Err(invalid("unsupported_grant_type", other)),
        None => return Err(invalid("invalid_request", "no grant_type")),
    }
    let subject_token = first(&fields, "subject_token").unwrap_or_default();
    let subject_type = first(&fields, "subject_token_type");
    if subject_token.is_empty() || !matches!(subject_type, Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE))
    {
        return Err(invalid(
            "invalid_request",
            "no subject token of a known type",
        ));
    }
    let subject = verify_subject(settings, subject_token)?;
    let audience = target(&fields, "audience", settings.audiences.as_deref())?;
    let resource = target(&fields, "resource", settings.resources.as_deref())?;
    let aud = match (audience, resource) {
        (None, None) => return Err(invalid("invalid_target", "no audience or resource")),
        (Some(aud), _) | (None, Some(aud)) => aud,
    };
    if first(&fields, "requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(invalid("invalid_request", "only access tokens are issued"));
    }
    let scope = first(&fields, "scope");
    if let Some(scope) = scope {
        down_scoped(&subject, scope)?;
    }
    let claims = Claims {
        client,
        aud,
        scope,
        serial,
    };
    Ok(mint(settings, signing, &subject, claims))
}

/// The clients an authorization server of the tests knows, and whether one
/// with no authentication is served.
pub struct Clients<'a> {
    pub known: &'a [StsClient],
    pub anonymous: bool,
}

/// The client's name for `act` (`None`: anonymous), or 401 `invalid_client`;
/// `certified`: the client the request's TLS certificate was issued to.
pub fn authenticate(
    settings: &Clients<'_>,
    request: &Request,
    fields: Option<&[(String, String)]>,
    certified: Option<&str>,
) -> Result<Option<String>, Refusal> {
    let denied = |why: &str| Err(refusal(401, "invalid_client", why));
    let fields = fields.unwrap_or_default();
    if first(fields, "client_secret").is_some() {
        return denied("client_secret_post is not accepted");
    }
    let form_id = first(fields, "client_id");
    let Some(authorization) = request.header("authorization") else {
        let known = |id: &str| settings.known.contains(&StsClient::certificate(id));
        return match form_id {
            Some(id) if known(id) && certified == Some(id) => Ok(Some(id.into())),
            Some(id) if known(id) && certified.is_none() => {
                denied("tls_client_auth without a client certificate")
            }
            Some(id) if known(id) => denied("the client certificate is another client's"),
            Some(_) => denied("unknown client_id"),
            None if settings.anonymous => Ok(None),
            None => denied("client authentication required"),
        };
    };
    let Some((id, secret)) = form::basic(authorization) else {
        return denied("unreadable Basic credentials");
    };
    if !settings.known.contains(&StsClient::basic(&id, &secret)) {
        return denied("unknown client or wrong secret");
    }
    if form_id.is_some_and(|form_id| form_id != id) {
        return denied("client_id is not Basic's client");
    }
    Ok(Some(id))
}

/// The form's fields if it is one: form content type, readable, no field
/// repeated but `audience` and `resource` (RFC 6749 §3.2); else `invalid_request`.
fn well_formed(
    request: &Request,
    fields: Option<Vec<(String, String)>>,
) -> Result<Vec<(String, String)>, Refusal> {
    let content_type = request.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(invalid("invalid_request", "not a form body"));
    }
    let fields = fields.ok_or_else(|| invalid("invalid_request", "unreadable form"))?;
    for (at, (name, _)) in fields.iter().enumerate() {
        let again = fields[..at].iter().any(|(seen, _)| seen == name);
        if again && !REPEATABLE.contains(&name.as_str()) {
            return Err(invalid("invalid_request", format!("{name} repeated")));
        }
    }
    Ok(fields)
}

/// The subject token's claims if it verifies with the subject key, has the
/// subject issuer and a `sub` and has not expired; else `invalid_grant`.
fn verify_subject(settings: &StsSettings, token: &str) -> Result<Map<String, Value>, Refusal> {
    let key = settings.subject_key;
    let mut validation = Validation::new(Algorithm::from_str(key.default_alg()).unwrap());
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.subject_issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let refused = |why: String| invalid("invalid_grant", format!("subject token: {why}"));
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding_key(key), &validation)
        .map_err(|e| refused(e.to_string()))?;
    let claims = data.claims;
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp <= keys::now() {
        return Err(refused("expired".into()));
    }
    if !claims.get("sub").is_some_and(Value::is_string) {
        return Err(refused("sub is not a string".into()));
    }
    Ok(claims)
}

/// The public key of `key`, from its SPKI PEM.
pub(super) fn decoding_key(key: TestKey) -> DecodingKey {
    let pem = key.public_pem();
    let decoded = match key.default_alg() {
        "EdDSA" => DecodingKey::from_ed_pem(pem),
        alg if alg.starts_with("ES") => DecodingKey::from_ec_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    };
    decoded.unwrap()
}

/// The `aud` the values of field `name` ask for (`None`: no such field): one
/// string, or an array if several; `invalid_target` for an empty value or one
/// outside `allowed`.
fn target(
    fields: &[(String, String)],
    name: &str,
    allowed: Option<&[String]>,
) -> Result<Option<Value>, Refusal> {
    let values: Vec<&str> = every(fields, name).collect();
    for value in &values {
        let known = allowed.is_none_or(|allowed| allowed.iter().any(|a| a == value));
        if value.is_empty() || !known {
            return Err(invalid(
                "invalid_target",
                format!("{name} {value:?} not served"),
            ));
        }
    }
    Ok(match values.as_slice() {
        [] => None,
        [one] => Some(json!(one)),
        several => Some(json!(several)),
    })
}

/// `invalid_scope` unless every word of `scope` is in the subject's `scope`
/// (a space-separated string or an array); a subject without one limits nothing.
fn down_scoped(subject: &Map<String, Value>, scope: &str) -> Result<(), Refusal> {
    let held: Vec<&str> = match subject.get("scope") {
        None => return Ok(()),
        Some(Value::String(words)) => words.split(' ').collect(),
        Some(Value::Array(words)) => words.iter().filter_map(Value::as_str).collect(),
        Some(_) => Vec::new(),
    };
    match scope
        .split(' ')
        .find(|w| !w.is_empty() && !held.contains(w))
    {
        Some(word) => Err(invalid("invalid_scope", format!("{word} not held"))),
        None => Ok(()),
    }
}

/// What a minted token says besides the subject's `sub` and the times.
struct Claims<'a> {
    client: Option<String>,
    aud: Value,
    scope: Option<&'a str>,
    serial: usize,
}

/// The token for `claims`, living `settings.lifetime` but not past the subject.
fn mint(
    settings: &StsSettings,
    signing: TestKey,
    subject: &Map<String, Value>,
    claims: Claims,
) -> Minted {
    let now = keys::now();
    let subject_exp = subject["exp"].as_u64().unwrap();
    let exp = subject_exp.min(now + settings.lifetime.as_secs());
    let mut act = json!({"sub": claims.client.as_deref().unwrap_or("anonymous")});
    if let Some(prior) = subject.get("act") {
        act["act"] = prior.clone();
    }
    let mut minted = json!({
        "iss": settings.issuer, "sub": subject["sub"], "aud": claims.aud,
        "iat": now, "exp": exp, "act": act, "jti": format!("sts-{}", claims.serial),
    });
    if let Some(scope) = claims.scope {
        minted["scope"] = json!(scope);
    }
    Minted {
        token: keys::sign_default(signing, minted),
        expires_in: exp - now,
    }
}
