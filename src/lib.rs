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

pub mod config;
pub mod decision;
pub mod keys;
pub mod log;
pub mod policy;
pub mod rejection;
pub mod request;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod filter;

// The crate's former flat paths, kept while the tree moves into its folders.
#[doc(hidden)]
pub use decision::{authenticate, fast_path};
#[doc(hidden)]
pub use keys::fetch_state as jwks_cache;
#[doc(hidden)]
pub use keys::wait as key_wait;
#[doc(hidden)]
pub use keys::{der, discovery, host_signature, jwks, verify};
#[doc(hidden)]
pub use log::{budget as log_budget, token_facts as facts, who};
#[doc(hidden)]
pub use policy::{caller, claim_rule as claim_requirement, placeholder, requirement, template};
#[doc(hidden)]
pub use request::{header_map, path as request_path};
#[doc(hidden)]
pub use token::{cache as token_cache, claims, strict_json, typ as token_type};
/// The former `extract` module: the request and where its token is.
#[doc(hidden)]
pub mod extract {
    pub use crate::request::{same_header_name, HeaderValues, Request};
    pub use crate::token::extract::*;
}
