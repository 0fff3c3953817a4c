//! HTTP and HTTPS for the CLI. Key sets for `audgate verify`: a `--jwks` URL, or
//! a provider's `remote_jwks` as the filter fetches it (its `uri`; with
//! `discovery: true` the issuer's OpenID configuration first, whose `issuer` must
//! be the provider's and whose `jwks_uri` must be on the issuer's host). Bodies
//! are read and judged by the filter's own code, so a failure reads as the
//! filter's log would put it. Token exchanges for `audgate exchange`: a form
//! POSTed, its answer read for the filter's judge.

use std::time::Duration;

use audgate::config::{Provider, RemoteJwks};
use audgate::keys::discovery::jwks_location;
use audgate::keys::fetch_reply::{accept_body, check_reply, explain, FetchFailure, MAX_JWKS_BYTES};
use audgate::keys::jwks::ParsedJwks;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// How long one fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP client that trusts the webpki roots, or only the `--cacert` ones.
pub struct Fetcher {
    agent: ureq::Agent,
    /// How long one request may take, connection included.
    timeout: Duration,
}

/// Why a POST has no answer to judge.
pub enum Unanswered {
    /// No connection, or it broke: why, in words.
    Unreachable(String),
    /// No answer within the timeout.
    TimedOut,
    /// A body over the limit.
    TooLarge,
}

/// A key set, and where it came from (for the user).
pub struct Fetched {
    /// The usable keys and the skipped ones.
    pub parsed: ParsedJwks,
    /// e.g. `https://idp/jwks` or `https://idp/jwks (jwks_uri of https://idp/.well-known/openid-configuration)`.
    pub from: String,
}

impl Fetcher {
    /// A client; `cacert` is a PEM file of the CA certificates to trust instead
    /// of the usual roots.
    pub fn new(cacert: Option<&str>) -> Result<Fetcher, String> {
        Fetcher::with_timeout(cacert, TIMEOUT)
    }

    /// As [`Fetcher::new`], each request given `timeout`.
    pub fn with_timeout(cacert: Option<&str>, timeout: Duration) -> Result<Fetcher, String> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = cacert {
            let pem = std::fs::read(path).map_err(|e| format!("--cacert {path}: {e}"))?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(cert)) => Some(cert),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!(
                    "--cacert {path}: no certificate in it (a PEM file with -----BEGIN CERTIFICATE-----)"
                ));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // Envoy's callout follows no redirect either.
            .max_redirects(0)
            .tls_config(tls.build())
            .build();
        Ok(Fetcher {
            agent: config.into(),
            timeout,
        })
    }

    /// POSTs the form `body` (with `authorization`, when given) to `url`: the
    /// status and at most `limit` bytes of body.
    pub fn post_form(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), Unanswered> {
        let mut request = self
            .agent
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let unanswered = |error: ureq::Error| match error {
            ureq::Error::Timeout(_) => Unanswered::TimedOut,
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                Unanswered::TimedOut
            }
            ureq::Error::BodyExceedsLimit(_) => Unanswered::TooLarge,
            other => Unanswered::Unreachable(in_words(&other, self.timeout)),
        };
        let mut response = request.send(body).map_err(unanswered)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(limit as u64)
            .read_to_vec()
            .map_err(unanswered)?;
        Ok((status, body))
    }

    /// The body of `url`, with its status; an error says why there is none.
    fn get(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        let mut response = self
            .agent
            .get(url)
            .header("accept", "application/json")
            .call()
            .map_err(|error| {
                format!("could not fetch {url}: {}", in_words(&error, self.timeout))
            })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES as u64 + 1)
            .read_to_vec()
            .map_err(|error| format!("could not read {url}: {}", in_words(&error, self.timeout)))?;
        Ok((status, body))
    }

    /// A key set from `url` (`--jwks URL`).
    pub fn jwks(&self, url: &str) -> Result<Fetched, String> {
        let parsed = self.key_set(url)?;
        Ok(Fetched {
            parsed,
            from: url.to_owned(),
        })
    }

    /// The keys of a provider's `remote_jwks`, fetched as the filter does.
    pub fn provider(&self, provider: &Provider, remote: &RemoteJwks) -> Result<Fetched, String> {
        if !remote.discovery {
            return self.jwks(&remote.uri);
        }
        let (status, body) = self.get(&remote.uri)?;
        check_reply(Some(u32::from(status)), body.len())
            .map_err(|failure| format!("{}: {failure}", remote.uri))?;
        let path = jwks_location(&body, &provider.issuer, &remote.authority)
            .map_err(|error| format!("{}: {}", remote.uri, FetchFailure::Discovery(error)))?;
        let scheme = remote.uri.split("://").next().unwrap_or("https");
        let url = format!("{scheme}://{}{path}", remote.authority);
        let parsed = self.key_set(&url)?;
        Ok(Fetched {
            parsed,
            from: format!("{url} (the jwks_uri of {})", remote.uri),
        })
    }

    fn key_set(&self, url: &str) -> Result<ParsedJwks, String> {
        let (status, body) = self.get(url)?;
        let judged = check_reply(Some(u32::from(status)), body.len())
            .and_then(|()| accept_body(body.clone()));
        match judged {
            Ok((_, parsed)) => Ok(parsed),
            Err(failure) => Err(format!("{url}: {}", explain(failure, &body, 0, u64::MAX))),
        }
    }
}

/// A transport error as a sentence's end: "connection refused", "timed out".
fn in_words(error: &ureq::Error, timeout: Duration) -> String {
    let late = || match timeout.subsec_millis() {
        0 => format!("no answer within {}s", timeout.as_secs()),
        _ => format!("no answer within {} ms", timeout.as_millis()),
    };
    match error {
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::TimedOut => late(),
            _ => io.to_string(),
        },
        ureq::Error::Timeout(_) => late(),
        ureq::Error::HostNotFound => "host not found (DNS)".into(),
        ureq::Error::BodyExceedsLimit(_) => {
            format!("body over the {MAX_JWKS_BYTES} bytes the filter reads")
        }
        other => other.to_string(),
    }
}
