//! The introspection request (RFC 7662 §2.1): `POST` of the token as a form,
//! with this resource server's client authentication.

use crate::oauth::client_auth::ClientAuth;
use crate::request::form::Form;

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
