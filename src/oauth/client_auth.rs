//! How the filter's client authenticates to an authorization server (a token
//! service, an introspection endpoint): RFC 6749 §2.3.1 Basic, or `client_id`
//! in the body when the cluster's TLS client certificate authenticates it
//! (RFC 8705), or not at all.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::request::form::{encode, Form};

/// How this proxy's client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client authentication.
    None,
    /// `client_id` as a form parameter; the cluster's TLS client certificate
    /// authenticates it (`tls_client_auth`).
    ClientId(String),
    /// HTTP Basic with the client id and secret, each form-urlencoded first
    /// (`client_secret_basic`).
    Basic {
        /// The client id.
        client_id: String,
        /// The secret, read from the VM's environment; never printed.
        secret: String,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::ClientId(id) => write!(f, "ClientId({id:?})"),
            ClientAuth::Basic { client_id, .. } => {
                write!(
                    f,
                    "Basic {{ client_id: {client_id:?}, secret: <redacted> }}"
                )
            }
        }
    }
}

impl ClientAuth {
    /// `form` with what this authentication adds to a callout's body, and the
    /// callout's `authorization` value, if any.
    pub fn apply(&self, form: Form) -> (Form, Option<String>) {
        match self {
            ClientAuth::None => (form, None),
            ClientAuth::ClientId(id) => (form.field("client_id", id), None),
            ClientAuth::Basic { client_id, secret } => {
                let pair = format!("{}:{}", encode(client_id), encode(secret));
                (form, Some(format!("Basic {}", STANDARD.encode(pair))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let auth = ClientAuth::Basic {
            client_id: "orders svc".into(),
            secret: "p:ss%".into(),
        };
        let (form, authorization) = auth.apply(Form::new().field("a", "b"));
        let value = authorization.unwrap();
        let decoded = STANDARD
            .decode(value.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "orders+svc:p%3Ass%25");
        assert_eq!(form.into_body(), "a=b", "nothing of the client in the body");
        assert!(
            !format!("{auth:?}").contains("p:ss"),
            "the secret is never printed"
        );
    }

    #[test]
    fn a_certificate_client_names_itself_in_the_body_and_none_adds_nothing() {
        let (form, authorization) =
            ClientAuth::ClientId("orders".into()).apply(Form::new().field("a", "b"));
        assert_eq!(
            (form.into_body(), authorization),
            ("a=b&client_id=orders".into(), None)
        );
        let (form, authorization) = ClientAuth::None.apply(Form::new().field("a", "b"));
        assert_eq!((form.into_body(), authorization), ("a=b".into(), None));
    }
}
