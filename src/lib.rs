//! audgate: a proxy-wasm HTTP filter that verifies the caller's JWT at the
//! service's own edge, and first of all that the token was minted *for this
//! service*: its `aud` must name one of the audiences the plugin config gives.
//!
//! ```text
//! plugin config JSON ──Config::from_json──▶ Config          (once, on_configure)
//! request headers ──decide(&config, &request, &keys, now)──▶ Decision
//!                     ├─ request_path: the path the upstream resolves
//!                     ├─ policy:   the rule (prefix, path, template) → requirement
//!                     ├─ extract:  where the token is
//!                     ├─ token:    split, base64url, strict JSON
//!                     ├─ authenticate: typ → aud → iss → exp/nbf/lifetime → claims
//!                     │            (no crypto yet), then
//!                     ├─ jwks:     key by kid and alg
//!                     └─ verify:   signature; the claims' verdict only now
//! ```
//! Everything above is free of host calls and runs under plain `cargo test`;
//! `filter` (wasm32 only) is the thin proxy-wasm layer over it.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
#![warn(missing_docs)]

pub mod authenticate;
pub mod caller;
pub mod claim_requirement;
pub mod claims;
pub mod config;
pub mod decision;
pub mod extract;
pub mod facts;
pub mod fast_path;
pub mod header_map;
pub mod keys;
pub mod log_budget;
pub mod placeholder;
pub mod policy;
pub mod rejection;
pub mod request_path;
pub mod requirement;
pub mod strict_json;
pub mod template;
pub mod token;
pub mod token_cache;
pub mod token_type;
pub mod who;

#[cfg(target_arch = "wasm32")]
mod filter;

// The crate's former flat paths, kept while the tree moves into its folders.
#[doc(hidden)]
pub use keys::fetch_state as jwks_cache;
#[doc(hidden)]
pub use keys::wait as key_wait;
#[doc(hidden)]
pub use keys::{der, discovery, host_signature, jwks, verify};
