//! The proxy-wasm layer, the only code that talks to the host (wasm32 only).
//!
//! - `root`: one per VM; configuration, ticks, JWKS callouts, held requests.
//! - `http`: one per request; decide, then carry out or hold.
//! - `fetcher`: remote keys through shared data (sync, lease, fetch, refetch).
//! - `respond`: carrying a decision out on the current request.
//! - `vm`: what a VM keeps between callbacks.
//! - `metrics`: Envoy stats.
//! - `foreign`: the host's `verify_signature`, detected once per VM.
//! - `host`: the host calls, wrapped so that none can panic.

mod fetcher;
mod foreign;
mod host;
mod http;
mod metrics;
mod respond;
mod root;
mod vm;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(root::AudgateRoot::new(context_id))
    });
}}
