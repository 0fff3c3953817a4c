//! The proxy-wasm layer, the only code that talks to the host (wasm32 only).
//!
//! - `exports`: the callbacks the host calls (only those audgate needs).
//! - `abi`: the host functions imported, wrapped so that none can panic.
//! - `root`: one per VM; configuration, ticks, JWKS callouts, held requests.
//! - `http`: a request's headers; decide, then carry out or hold.
//! - `fetcher`: remote keys through shared data (sync, lease, fetch, refetch).
//! - `fresh_keys`: no unknown-`kid` or missing-keys refusal from a stale key copy.
//! - `respond`: carrying a decision out on the current request.
//! - `vm`: what a VM keeps between callbacks.
//! - `metrics`: Envoy stats.
//! - `foreign`: the host's `verify_signature`, detected once per VM.
//! - `host`: the host operations the filter uses, over `abi`.
//! - `logger`: the `log` facade over the host's log.

mod abi;
mod exports;
mod foreign;
mod host;
mod http;
mod logger;
mod metrics;
mod respond;
mod root;
mod vm;
