//! The RFC 8693 token-exchange request a destination's token is asked for with:
//! its form body (`subject_token`, its type, the access token asked for, and the
//! destination's `audience` / `resource` / `scope`) and how this workload's client
//! authenticates (RFC 6749 §2.3.1 Basic, or `client_id` in the body when the
//! cluster's TLS client certificate authenticates it, RFC 8705).

pub use crate::oauth::client_auth::ClientAuth;
use crate::request::form::Form;

/// `grant_type` of a token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an OAuth access token, asked for and accepted.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The token type of a JWT, accepted as issued.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// What the exchanged token is asked for: a destination's `audience`, `resource`
/// and `scope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    /// Sent as `audience`.
    pub audience: Option<&'a str>,
    /// Sent as `resource` (RFC 8707).
    pub resource: Option<&'a str>,
    /// Sent as `scope`: less than the subject token has (down-scoping).
    pub scope: Option<&'a str>,
}

/// The callout's body and `authorization` header. It holds the subject token and
/// perhaps the client secret, so it has no `Debug`.
pub struct Grant {
    /// `application/x-www-form-urlencoded` body.
    pub body: String,
    /// `authorization` value for `client_secret_basic`.
    pub authorization: Option<String>,
}

/// The exchange of `subject_token` (of type `subject_token_type`) for an access
/// token for `target`, by the client `auth` says.
pub fn grant(
    subject_token: &str,
    subject_token_type: &str,
    target: &Target<'_>,
    auth: &ClientAuth,
) -> Grant {
    let form = Form::new()
        .field("grant_type", GRANT_TYPE)
        .field("subject_token", subject_token)
        .field("subject_token_type", subject_token_type)
        .field("requested_token_type", ACCESS_TOKEN_TYPE)
        .optional("audience", target.audience)
        .optional("resource", target.resource)
        .optional("scope", target.scope);
    let (form, authorization) = auth.apply(form);
    Grant {
        body: form.into_body(),
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Vec<(&str, &str)> {
        body.split('&')
            .map(|pair| pair.split_once('=').unwrap())
            .collect()
    }

    #[test]
    fn the_body_asks_for_an_access_token_for_the_target() {
        let target = Target {
            audience: Some("payments"),
            resource: None,
            scope: Some("pay:read pay:write"),
        };
        let grant = grant("a.b.c", ACCESS_TOKEN_TYPE, &target, &ClientAuth::None);
        assert_eq!(
            fields(&grant.body),
            vec![
                (
                    "grant_type",
                    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
                ),
                ("subject_token", "a.b.c"),
                (
                    "subject_token_type",
                    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
                ),
                (
                    "requested_token_type",
                    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
                ),
                ("audience", "payments"),
                ("scope", "pay%3Aread+pay%3Awrite"),
            ]
        );
        assert_eq!(grant.authorization, None);
    }

    #[test]
    fn a_resource_is_sent_encoded() {
        let target = Target {
            resource: Some("https://payments.svc/api?x=1"),
            ..Target::default()
        };
        let grant = grant("t", ACCESS_TOKEN_TYPE, &target, &ClientAuth::None);
        assert!(grant
            .body
            .ends_with("&resource=https%3A%2F%2Fpayments.svc%2Fapi%3Fx%3D1"));
        assert!(!grant.body.contains("audience="));
    }

    #[test]
    fn a_certificate_client_names_itself_in_the_body() {
        let auth = ClientAuth::ClientId("orders".into());
        let grant = grant("t", ACCESS_TOKEN_TYPE, &Target::default(), &auth);
        assert!(grant.body.ends_with("&client_id=orders"));
        assert_eq!(grant.authorization, None);
    }
}
