//! audgate: a proxy-wasm HTTP filter that verifies the caller's JWT at the
//! service's own edge, and first of all that the token was minted *for this
//! service*: its `aud` must name one of the audiences the plugin config gives.
//!
//! ```text
//! plugin config JSON ──Config::from_json──▶ Config          (once, on_configure)
//! request headers ──decide(&config, &request, &keys, now)──▶ Decision
//!                     ├─ policy:   which provider(s) the route needs
//!                     ├─ extract:  where the token is
//!                     ├─ token:    split, base64url, strict JSON
//!                     ├─ claims:   aud → iss → exp/nbf/lifetime   (no crypto yet)
//!                     ├─ jwks:     key by kid and alg
//!                     └─ verify:   signature, then required claims
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
pub mod claims;
pub mod config;
pub mod decision;
pub mod der;
pub mod extract;
pub mod facts;
pub mod host_signature;
pub mod jwks;
pub mod jwks_cache;
pub mod policy;
pub mod rejection;
pub mod request_path;
pub mod strict_json;
pub mod token;
pub mod token_cache;
pub mod verify;

#[cfg(target_arch = "wasm32")]
mod filter;
