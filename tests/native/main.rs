//! The integration tests that need no Envoy, as one test binary: the decision
//! logic natively, the CLI, the fuzz corpus, the signature backends, the shipped
//! manifests and configurations, the built module's exports and image, and the
//! test support itself. `cargo test --test native` runs them (the module must be
//! built, `make build`); `cargo test --test native cli::` runs one module's tests.

#[path = "../support/mod.rs"]
mod support;

mod check_order;
mod cli;
mod cli_dpop;
mod cli_exchange;
mod cli_introspection;
mod cli_istio;
mod decision_review;
mod decision_table;
mod deploy_manifests;
mod dpop_decision;
mod dpop_fast_path;
mod envoy_yaml_demo;
mod fast_path_differential;
mod fuzz_corpus;
mod image;
mod introspection_config;
mod introspection_decision;
mod introspection_fast_path;
mod key_lifecycle;
mod layout;
mod module_exports;
mod module_size;
mod outbound_invariant;
mod resource_hints;
mod signature_backends;
mod sts;
mod support_selftest;
mod tested_versions;
