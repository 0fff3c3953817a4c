//! What a test [`Sts`](super::Sts) is started with: its issuer and first signing
//! key, the subject tokens it accepts, its clients and the targets it mints for.
//! No `Debug`: a client's secret is never printed.

use std::time::Duration;

use super::tls::StsTls;
use crate::support::cases;
use crate::support::keys::TestKey;

/// A client the STS knows, by how it authenticates (RFC 6749 §2.3).
#[derive(Clone, PartialEq, Eq)]
pub enum StsClient {
    /// HTTP Basic with this id and secret (`client_secret_basic`), each
    /// form-urlencoded before base64 (RFC 6749 §2.3.1).
    Basic { id: String, secret: String },
    /// `tls_client_auth` (RFC 8705): `client_id` in the form, authenticated by
    /// the TLS client certificate issued to that id (an HTTPS STS only).
    Certificate(String),
}

impl StsClient {
    /// A `client_secret_basic` client.
    pub fn basic(id: &str, secret: &str) -> StsClient {
        StsClient::Basic {
            id: id.into(),
            secret: secret.into(),
        }
    }

    /// A `tls_client_auth` client named by `client_id`.
    pub fn certificate(id: &str) -> StsClient {
        StsClient::Certificate(id.into())
    }
}

/// How an [`Sts`](super::Sts) verifies and mints; `Default` for the rest:
///
/// ```ignore
/// let settings = StsSettings {
///     clients: vec![StsClient::basic("orders", "p+ss/w=rd")],
///     anonymous: false,
///     audiences: Some(vec!["payments.svc".into()]),
///     ..StsSettings::default()
/// };
/// ```
#[derive(Clone)]
pub struct StsSettings {
    /// `iss` of the tokens it mints; default `https://sts.test`.
    pub issuer: String,
    /// The key it signs with until `rotate`; default `Ec256`.
    pub signing_key: TestKey,
    /// `iss` a subject token must have; default [`cases::ISSUER`].
    pub subject_issuer: String,
    /// The key a subject token must verify with (under its default alg);
    /// default `Rsa1`.
    pub subject_key: TestKey,
    /// The clients that may authenticate; default none.
    pub clients: Vec<StsClient>,
    /// Whether a request with no client authentication is served (its `act` is
    /// `anonymous`); default true. Credentials that are sent must still match.
    pub anonymous: bool,
    /// The `audience` values it mints for; `None` (default): any non-empty one.
    pub audiences: Option<Vec<String>>,
    /// The `resource` values it mints for; `None` (default): any non-empty one.
    pub resources: Option<Vec<String>>,
    /// Life of a minted token, never past the subject token's `exp`; default 300 s.
    pub lifetime: Duration,
    /// HTTPS with client certificates; `None` (default): plain HTTP, where no
    /// `tls_client_auth` client can authenticate.
    pub tls: Option<StsTls>,
}

impl Default for StsSettings {
    fn default() -> StsSettings {
        StsSettings {
            issuer: "https://sts.test".into(),
            signing_key: TestKey::Ec256,
            subject_issuer: cases::ISSUER.into(),
            subject_key: TestKey::Rsa1,
            clients: Vec::new(),
            anonymous: true,
            audiences: None,
            resources: None,
            lifetime: Duration::from_secs(300),
            tls: None,
        }
    }
}
