//! The demo issuer's token service: RFC 8693 token exchange on `POST /token`, as
//! an IdP that mints for its own audiences does it (Keycloak's token exchange, for
//! one). The caller-side Envoy of `make run` (envoy/outbound.yaml) sends it the
//! token its workload, `orders`, received, and gets one minted for `payments`.
//!
//! It answers in this order: the client must be `orders` by HTTP Basic with the
//! secret the demo was given (its id and secret each form-urlencoded before
//! base64, RFC 6749 §2.3.1), else 401 `invalid_client`; the body a form asking
//! for a token exchange (`unsupported_grant_type`, `invalid_request`) with one
//! `audience` this issuer mints for (`invalid_target`); the subject token one of
//! this issuer, signed by the demo key, unexpired, with a `sub`, and minted for
//! `orders` itself (its `aud` names orders.demo.svc), else 400 `invalid_grant`.
//! Then it mints, signed by the demo key: `iss` the demo issuer, `aud` the asked
//! audience, the subject's `sub`, the asked `scope`, `act: {"sub": "orders"}`
//! (RFC 8693 §4.1) and an `exp` never past the subject's. A demo, not a policy
//! engine: any scope asked for is granted.

// The form decoding of the tests' token service (RFC 6749: `+`, `%XY`, Basic).
#[allow(dead_code)]
#[path = "../../tests/support/sts/form.rs"]
mod form;

use super::keys::{self, TestKey};
use super::upstream::{Reply, Request};
use super::{AUDIENCE, ISSUER, OTHER_AUDIENCE};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};

/// The one client: the workload whose outbound calls envoy/outbound.yaml
/// exchanges tokens for (its `client_id`).
pub const CLIENT_ID: &str = "orders";
/// `grant_type` of a token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an access token: what it takes and issues.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The audiences it mints for.
const AUDIENCES: [&str; 2] = [AUDIENCE, OTHER_AUDIENCE];
/// The longest life of a minted token, seconds (less if the subject's ends first).
pub const EXCHANGED_LIFETIME_S: u64 = 300;

/// Answers `POST /token`; `secret` is client `orders`'s (`None`: every client
/// is refused).
pub fn token(secret: Option<&str>, request: &Request) -> Reply {
    match exchange(secret, request) {
        Ok(answer) => no_store(Reply::json(&answer)),
        Err((status, error, description)) => refused(status, error, &description),
    }
}

type Refusal = (u16, &'static str, String);

fn invalid(error: &'static str, description: impl Into<String>) -> Refusal {
    (400, error, description.into())
}

fn exchange(secret: Option<&str>, request: &Request) -> Result<Value, Refusal> {
    authenticate(secret, request)?;
    let content_type = request.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(invalid("invalid_request", "the body must be a form"));
    }
    let fields =
        form::parse(&request.body).ok_or_else(|| invalid("invalid_request", "unreadable form"))?;
    let one = |name: &str| -> Result<Option<&str>, Refusal> {
        match form::every(&fields, name).collect::<Vec<_>>()[..] {
            [] => Ok(None),
            [value] => Ok(Some(value)),
            _ => Err(invalid("invalid_request", format!("{name} repeated"))),
        }
    };
    match one("grant_type")? {
        Some(GRANT_TYPE) => {}
        Some(other) => return Err(invalid("unsupported_grant_type", other)),
        None => return Err(invalid("invalid_request", "no grant_type")),
    }
    let subject_token = one("subject_token")?.unwrap_or_default();
    let subject_type = one("subject_token_type")?;
    if subject_token.is_empty() || !matches!(subject_type, Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE))
    {
        return Err(invalid(
            "invalid_request",
            "no subject_token of a known subject_token_type",
        ));
    }
    if one("requested_token_type")?.is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(invalid("invalid_request", "only access tokens are issued"));
    }
    if one("resource")?.is_some() {
        return Err(invalid("invalid_target", "ask by audience, not resource"));
    }
    let audience = match one("audience")? {
        Some(audience) if AUDIENCES.contains(&audience) => audience,
        Some(other) => return Err(invalid("invalid_target", format!("no tokens for {other}"))),
        None => return Err(invalid("invalid_target", "no audience")),
    };
    let scope = one("scope")?;
    let subject = verify_subject(subject_token)
        .map_err(|why| invalid("invalid_grant", format!("subject token: {why}")))?;
    Ok(mint(&subject, audience, scope))
}

/// `Ok` if `orders` authenticated with `secret` by HTTP Basic, else 401 `invalid_client`.
fn authenticate(secret: Option<&str>, request: &Request) -> Result<(), Refusal> {
    let denied = |why: &str| Err((401, "invalid_client", why.to_string()));
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return denied("the demo has no client secret (AUDGATE_STS_SECRET)");
    };
    let Some(authorization) = request.header("authorization") else {
        return denied("client authentication (HTTP Basic) required");
    };
    match form::basic(authorization) {
        Some((id, given)) if id == CLIENT_ID && same(&given, secret) => Ok(()),
        Some(_) => denied("unknown client or wrong secret"),
        None => denied("unreadable Basic credentials"),
    }
}

/// `a == b` in time that depends on their lengths only.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// The claims of a token of the demo issuer for `orders`, signed by the demo
/// key, unexpired and with a `sub`; else why not.
fn verify_subject(token: &str) -> Result<Map<String, Value>, String> {
    let key = DecodingKey::from_rsa_pem(TestKey::Demo.public_pem()).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| e.to_string())?;
    if !data.claims.get("sub").is_some_and(Value::is_string) {
        return Err("sub is not a string".into());
    }
    Ok(data.claims)
}

/// The answer (RFC 8693 §2.2.1) with a token for `audience` acting for `subject`.
fn mint(subject: &Map<String, Value>, audience: &str, scope: Option<&str>) -> Value {
    let now = keys::now();
    let subject_exp = subject["exp"].as_u64().unwrap_or(now);
    let exp = subject_exp.min(now + EXCHANGED_LIFETIME_S);
    let mut act = json!({ "sub": CLIENT_ID });
    if let Some(prior) = subject.get("act") {
        act["act"] = prior.clone();
    }
    let mut claims = json!({
        "iss": ISSUER, "aud": audience, "sub": subject["sub"], "iat": now, "exp": exp,
        "act": act,
    });
    if let Some(scope) = scope {
        claims["scope"] = json!(scope);
    }
    json!({
        "access_token": keys::sign_default(TestKey::Demo, claims),
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": exp.saturating_sub(now),
    })
}

/// An OAuth error answer (RFC 6749 §5.2); a 401 challenges for Basic.
fn refused(status: u16, error: &str, description: &str) -> Reply {
    let body = json!({ "error": error, "error_description": description });
    let mut reply = no_store(Reply::json(&body));
    reply.status = status;
    if status == 401 {
        let challenge = ("www-authenticate".into(), "Basic realm=\"demo-sts\"".into());
        reply.headers.push(challenge);
    }
    reply
}

/// `reply` with `cache-control: no-store` (RFC 6749 §5.1).
fn no_store(mut reply: Reply) -> Reply {
    let header = ("cache-control".into(), "no-store".into());
    reply.headers.push(header);
    reply
}
