//! An upstream that records what reaches it and one Envoy in front of it, for the
//! end-to-end tests that send a request and look at the status and at what the
//! upstream saw.

use serde_json::Value;

use super::http::{self, Response};
use super::upstream::{Request, Upstream};
use super::{envoy_yaml, Envoy};

pub struct Rig {
    pub upstream: Upstream,
    pub envoy: Envoy,
}

impl Rig {
    /// Envoy from `envoy/envoy.yaml` with `config` as the plugin configuration.
    pub fn new(config: &Value) -> Rig {
        Rig::with_template(config, |yaml| yaml)
    }

    /// The same, with `edit` applied to the text of `envoy/envoy.yaml` first.
    pub fn with_template(config: &Value, edit: impl FnOnce(String) -> String) -> Rig {
        let upstream = Upstream::start();
        let template = edit(envoy_yaml::template());
        let envoy = Envoy::builder(config, upstream.port())
            .template(&template)
            .start();
        Rig { upstream, envoy }
    }

    /// Sends one request: the response, and what reached the upstream (that
    /// request or nothing).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (Response, Option<Request>) {
        let response = http::request(self.envoy.port(), method, path, headers, b"");
        let mut seen = self.upstream.take();
        assert!(
            seen.len() <= 1,
            "{method} {path}: the upstream saw {seen:?}"
        );
        (response, seen.pop())
    }

    /// The status, and what reached the upstream.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Option<Request>) {
        let (response, seen) = self.request(method, path, headers);
        (response.status, seen)
    }

    /// The status.
    pub fn status(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
        self.send(method, path, headers).0
    }

    /// The status, having checked that the upstream saw the request exactly when
    /// it passed (a 200).
    pub fn checked(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
        let (status, seen) = self.send(method, path, headers);
        assert_eq!(
            status == 200,
            seen.is_some(),
            "{method} {path}: {status} but the upstream saw {seen:?}"
        );
        status
    }
}
