//! The proxy-wasm layer, the only code that talks to the host (wasm32 only). The
//! remote keys' lifecycle is not here: it is `crate::keys` (`fetcher`,
//! `fresh_keys`, `remote_sets`, ...) over two traits, which `host::Proxy`
//! implements; this layer calls it from the host's callbacks.
//!
//! - `exports`: the callbacks the host calls (only those audgate needs).
//! - `abi`: the host functions imported, wrapped so that none can panic.
//! - `root`: one per VM; configuration, ticks, callout replies, held requests.
//! - `http`: a request's headers; decide, then carry out or hold.
//! - `respond`: carrying a decision out on the current request.
//! - `vm`: what a VM keeps between callbacks.
//! - `metrics`: Envoy stats.
//! - `foreign`: the host's `verify_signature`, detected once per VM.
//! - `host`: the host operations the filter uses, over `abi`; `Proxy`, the
//!   key lifecycle's shared data and callouts.
//! - `logger`: the `log` facade over the host's log.

mod abi;
mod exports;
mod foreign;
mod host;
mod http;
mod introspection;
mod logger;
mod metrics;
mod outbound;
mod respond;
mod root;
mod vm;
