//! The caller → callee chain of the exchange tests: a token service
//! ([`Sts`]), the callee's upstream, the callee's Envoy (envoy/envoy.yaml,
//! audgate verifying the STS's tokens for [`PAYMENTS`]) and the caller's Envoy
//! (envoy/outbound.yaml, audgate exchanging outbound tokens). A request sent to
//! the caller's Envoy with `host: payments.demo.svc` is the calling workload's
//! outbound call.
//!
//! ```ignore
//! let chain = Chain::start(&outbound_config(), StsSettings::default());
//! let response = chain.call(&subject_token(json!({})));
//! assert_eq!(chain.upstream.requests().len(), 1);
//! ```

use serde_json::{json, Value};

use super::cases::ISSUER;
use super::envoy_yaml;
use super::http::{self, Response};
use super::keys::{self, now, TestKey};
use super::sts::{Sts, StsClient, StsSettings};
use super::{Envoy, Upstream};

/// The destination's identity: the host the caller calls, the audience its
/// exchanged tokens carry.
pub const PAYMENTS: &str = "payments.demo.svc";
/// The calling workload's client at the STS (envoy/outbound.yaml's `client_id`).
pub const CLIENT_ID: &str = "orders";
/// Its secret, which reaches the module through the VM's environment.
pub const CLIENT_SECRET: &str = "s3cret+/=with:odd&chars";
/// The environment variable envoy/outbound.yaml names.
pub const SECRET_ENV: &str = "AUDGATE_STS_SECRET";
/// Where the callee puts the verified payload for the upstream to read.
pub const PAYLOAD_HEADER: &str = "x-verified-payload";

/// What a chain runs other than [`Chain::start`]'s, besides the caller's
/// configuration: the callee's configuration and either Envoy's file (each
/// keeping the markers `envoy_yaml` renders), e.g. Istio's WasmPlugins set up
/// as Istio sets them up (tests/e2e/istio_outbound.rs). `Default`: the same as
/// [`Chain::start`].
#[derive(Clone, Debug, Default)]
pub struct Ends {
    /// The callee's plugin configuration; default [`callee_config`] of the STS's issuer.
    pub callee_config: Option<Value>,
    /// The callee's Envoy file; default envoy/envoy.yaml, its `jwks` cluster the STS.
    pub callee_template: Option<String>,
    /// The caller's Envoy file; default envoy/outbound.yaml, its `sts` cluster the STS.
    pub caller_template: Option<String>,
}

/// The running chain; see the module docs.
pub struct Chain {
    pub sts: Sts,
    pub upstream: Upstream,
    pub callee: Envoy,
    pub caller: Envoy,
}

/// The STS the chain's caller is a client of: Basic credentials for
/// [`CLIENT_ID`], subject tokens of `cases::ISSUER` signed by `TestKey::Rsa1`.
pub fn sts_settings() -> StsSettings {
    StsSettings {
        clients: vec![StsClient::basic(CLIENT_ID, CLIENT_SECRET)],
        anonymous: false,
        ..StsSettings::default()
    }
}

/// envoy/outbound.yaml's own plugin configuration.
pub fn shipped_outbound_config() -> Value {
    let text = envoy_yaml::plugin_config(&envoy_yaml::outbound_template());
    serde_json::from_str(&text).expect("outbound.yaml's configuration is JSON")
}

/// The callee's configuration: tokens of `sts_issuer` for [`PAYMENTS`] only,
/// keys from the STS's `/jwks`, the payload passed to the upstream; `/public`
/// needs no token (so a test can see what arrives without one).
pub fn callee_config(sts_issuer: &str) -> Value {
    json!({
        "providers": [{
            "name": "sts",
            "issuer": sts_issuer,
            "audiences": [PAYMENTS],
            "remote_jwks": {"uri": "http://sts.test/jwks", "cluster": "jwks", "timeout_ms": 1000},
            "forward_payload_header": PAYLOAD_HEADER,
            "forward": true,
        }],
        "rules": [{"match": {"prefix": "/public"}, "requires": "none"}],
    })
}

/// A token the calling workload received: for `orders.svc`, from `cases::ISSUER`,
/// with `extra` claims merged.
pub fn subject_token(extra: Value) -> String {
    let now = now();
    let claims = keys::merged(
        json!({"iss": ISSUER, "aud": "orders.svc", "sub": "alice", "scope": "orders:read payments:charge",
               "iat": now, "exp": now + 600}),
        &extra,
    );
    keys::sign_default(TestKey::Rsa1, claims)
}

impl Chain {
    /// The chain with `caller_config` on the caller's side and `settings` at the STS.
    pub fn start(caller_config: &Value, settings: StsSettings) -> Chain {
        Chain::start_with(caller_config, settings, 1)
    }

    /// As [`Chain::start`], the caller's Envoy with `workers` workers.
    pub fn start_with(caller_config: &Value, settings: StsSettings, workers: u32) -> Chain {
        Chain::start_ends(caller_config, settings, workers, Ends::default())
    }

    /// As [`Chain::start_with`], the callee's Envoy with `callee_config` (e.g.
    /// [`callee_config`] with more audiences or a shorter key cache).
    pub fn start_with_callee(
        caller_config: &Value,
        callee_config: &Value,
        settings: StsSettings,
        workers: u32,
    ) -> Chain {
        let ends = Ends {
            callee_config: Some(callee_config.clone()),
            ..Ends::default()
        };
        Chain::start_ends(caller_config, settings, workers, ends)
    }

    /// As [`Chain::start_with`], with the callee and the Envoy files of `ends`.
    pub fn start_ends(
        caller_config: &Value,
        settings: StsSettings,
        workers: u32,
        ends: Ends,
    ) -> Chain {
        let sts = Sts::start(settings);
        let upstream = Upstream::start();
        let callee_config = ends
            .callee_config
            .unwrap_or_else(|| callee_config(sts.issuer()));
        let mut callee = Envoy::builder(&callee_config, upstream.port()).jwks_port(sts.port());
        if let Some(template) = &ends.callee_template {
            callee = callee.template(template);
        }
        let callee = callee.start();
        let mut caller = Envoy::outbound(caller_config, callee.port(), sts.port());
        if let Some(template) = &ends.caller_template {
            caller = caller.template(template);
        }
        let caller = caller
            .env(SECRET_ENV, CLIENT_SECRET)
            .concurrency(workers)
            .start();
        Chain {
            sts,
            upstream,
            callee,
            caller,
        }
    }

    /// The calling workload's outbound call to [`PAYMENTS`] with `token`.
    pub fn call(&self, token: &str) -> Response {
        self.call_to(
            PAYMENTS,
            "/charge",
            &[("authorization", &format!("Bearer {token}"))],
        )
    }

    /// An outbound call to `host` and `path` with `headers`.
    pub fn call_to(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut all = vec![("host", host)];
        all.extend_from_slice(headers);
        http::get(self.caller.port(), path, &all)
    }
}

/// The claims of the verified payload the callee passed to its upstream.
pub fn verified_payload(request: &super::Request) -> Value {
    let payload = request
        .header(PAYLOAD_HEADER)
        .expect("the callee verified a token and passed its payload");
    serde_json::from_slice(&keys::b64_decode(payload)).unwrap()
}

/// No request `upstream` saw carries `token`, in any header, path or body.
pub fn assert_never_forwarded(upstream: &Upstream, token: &str) {
    for request in upstream.requests() {
        for (name, value) in &request.headers {
            assert!(
                !value.contains(token),
                "the original token reached the upstream in {name}"
            );
        }
        assert!(
            !request.path.contains(token),
            "the original token reached the upstream in the path"
        );
    }
}
