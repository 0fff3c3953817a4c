//! The end-to-end tests, as one test binary: the built module in real Envoy
//! (`make build`, then the Envoy that tests/support/envoy.rs finds, or
//! AUDGATE_ENVOY), and beside it what ships with it for Envoy (the container, the
//! demo, the documented configurations and the bench's). `cargo test --test e2e` runs them, and `make test` runs them
//! again in the oldest pip Envoy (`make test-compat`); `cargo test --test e2e
//! key_sets::` runs one module's tests. Tests run in parallel as in any test binary
//! (one thread per core by default), each with its own Envoy on free ports.

#[path = "../support/mod.rs"]
mod support;

mod attacks;
mod audit_mode;
mod bench_configs;
mod caller;
mod claims;
mod clients;
mod coexistence;
mod container;
mod demo;
mod deploy_docs;
mod docs_examples;
mod docs_exchange;
mod dpop;
mod exchange_chain;
mod exchange_failures;
mod exchange_gateway;
mod exchange_one_vm;
mod harness;
mod held_body;
mod introspection;
mod istio_outbound;
mod istio_workloads;
mod key_sets;
mod keys;
mod outcomes;
mod outputs;
mod paths;
mod refusal_cost;
mod remote_jwks;
mod resource_hints;
mod rotation;
mod route_policy;
mod rules;
mod stats;
mod times;
mod token_cache;
mod token_sources;
mod workload_audience;
