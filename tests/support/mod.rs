//! Test support shared by the integration tests: Envoy with `envoy/envoy.yaml`, a
//! recording upstream, a small HTTP client, test keys and the token table. Each
//! test binary has it once (`#[path = "../support/mod.rs"] mod support;` in
//! tests/native/main.rs and tests/e2e/main.rs, `mod support;` in tests/soak.rs),
//! and its modules reach it as `crate::support`.
#![allow(dead_code, unused_imports)]

pub mod cases;
pub mod chain;
pub mod decide;
pub mod envoy;
pub mod envoy_yaml;
pub mod example_bin;
pub mod fake_host;
pub mod http;
pub mod introspection;
pub mod jwks_server;
pub mod keys;
pub mod manifests;
pub mod prometheus;
pub mod providers;
pub mod rig;
pub mod sts;
pub mod temp;
pub mod tls;
pub mod upstream;

pub use envoy::{Envoy, EnvoyBuilder};
pub use envoy_yaml::Substitutions;
pub use http::Response;
pub use keys::{Signer, TestKey};
pub use rig::Rig;
pub use upstream::{Reply, Request, Upstream};
