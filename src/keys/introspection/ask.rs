//! The introspection request (RFC 7662 §2.1): `POST` of the token as a form,
//! with this resource server's client authentication.

use crate::oauth::client_auth::ClientAuth;
use crate::request::form::Form;
use crate::token::token68::is_token68;

/// Longest token ever sent to an introspection endpoint.
pub const MAX_SENT_TOKEN: usize = 4096;

/// Whether `token` may be sent to an introspection endpoint: 1..4096 `token68`
/// characters. Any other is refused as malformed with no callout, so a flood
/// of junk never reaches the authorization server.
pub fn sendable(token: &str) -> bool {
    token.len() <= MAX_SENT_TOKEN && is_token68(token)
}

/// The callout's body and `authorization` header. It holds the token and
/// perhaps the client secret, so it has no `Debug`.
pub struct Ask {
    /// `application/x-www-form-urlencoded` body.
    pub body: String,
    /// `authorization` value for `client_secret_basic`.
    pub authorization: Option<String>,
}

/// Asks about `token`, as the client `auth` says.
pub fn ask(token: &str, auth: &ClientAuth) -> Ask {
    let form = Form::new()
        .field("token", token)
        .field("token_type_hint", "access_token");
    let (form, authorization) = auth.apply(form);
    Ask {
        body: form.into_body(),
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_token68_tokens_are_sent() {
        assert!(sendable("2YotnFZFEjr1zCsicMWpAA"));
        assert!(sendable(&"a".repeat(MAX_SENT_TOKEN)));
        assert!(!sendable(&"a".repeat(MAX_SENT_TOKEN + 1)));
        for junk in ["", "a b", "a\"b", "tok,en", "é"] {
            assert!(!sendable(junk), "{junk:?}");
        }
    }

    #[test]
    fn the_token_is_sent_as_a_form_with_its_hint() {
        let sent = ask("abc+/=", &ClientAuth::None);
        assert_eq!(sent.body, "token=abc%2B%2F%3D&token_type_hint=access_token");
        assert!(sent.authorization.is_none());
    }

    #[test]
    fn the_client_authenticates_by_basic_or_by_its_certificate() {
        let by_certificate = ask("t", &ClientAuth::ClientId("orders api".into()));
        assert_eq!(
            by_certificate.body,
            "token=t&token_type_hint=access_token&client_id=orders+api"
        );
        assert!(by_certificate.authorization.is_none());
        let basic = ClientAuth::Basic {
            client_id: "orders".into(),
            secret: "s3cret".into(),
        };
        let sent = ask("t", &basic);
        assert_eq!(sent.body, "token=t&token_type_hint=access_token");
        assert!(sent
            .authorization
            .is_some_and(|value| value.starts_with("Basic ")));
    }
}
