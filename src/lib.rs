//! audgate: a proxy-wasm HTTP filter that verifies the caller's JWT at the
//! service's own edge, and first of all that the token was minted *for this
//! service*: its `aud` must name one of the audiences the plugin config gives.
//!
//! The request walk (every request, no host call):
//! ```text
//! plugin config JSON ──config::Config::from_json──▶ Config      (once, on_configure)
//! request headers ──decision::decide_with_peer──▶ Decision ──decision::plan::Plan::of──▶ Plan
//!   request::path        the path the upstream resolves, and its other readings
//!   policy               the rule (prefix, path, template, methods) → requirement
//!   token::extract       where the token is (headers, parameters, cookies)
//!   token                compact JWS, strict JSON, typ, claims (aud → iss → times)
//!   decision::remembered a token verified before: recalled and re-checked
//!   decision::authenticate  one token against one provider, key-free checks first,
//!                        then keys::jwks (key by kid and alg) and keys::verify
//!   decision::mutations  what the request loses and gains before it goes upstream
//! the filter carries the Plan out: continue with changes, hold, or respond
//! ```
//! The key walk (remote key sets, per VM, over the host's shared data and callouts):
//! ```text
//! keys::remote_sets  providers grouped by key set   keys::key_copy  this VM's copy
//! keys::fetcher      the tick: lease by CAS (keys::shared_state), callout, reply
//!                    judged (keys::fetch_reply), stored, late replies dropped
//! keys::fresh_keys   a refusal for missing keys or an unknown kid: re-read the
//!                    shared keys, then wait (keys::wait) or refuse
//! ```
//! The outbound walk (`exchange`: a token on its way out is swapped for one
//! minted for its destination):
//! ```text
//! Decision (or none, at a sidecar's outbound side) ──decision::onward──▶ Plan
//!   exchange::outbound   the destination (hosts, clusters) and the token's fate:
//!                        exchanged, removed, refused or (forward) passed on
//!   exchange::remembered an exchanged token at hand → Continue with it
//!   otherwise            Hold(Callout::Exchange): exchange::depart joins the flight
//!                        for the same token and destination (exchange::flights) or
//!                        sends the RFC 8693 form (exchange::grant); the answer is
//!                        judged (exchange::answer, exchange::landing), kept for its
//!                        life (exchange::lifetime) and every waiting request is
//!                        planned again
//! ```
//!
//! Layers, depended on one way only: the leaves `request`, `token`, `policy`,
//! `keys`, `exchange`, `resource` (what the resource tells its clients: its
//! metadata document, what browsers need) (and `rejection`, `log`, `oauth`, and
//! `clock`: the CLOCK-evicted map
//! under `token::cache` and `exchange::remembered`) ← `config` ← `decision` ←
//! `filter` and the CLI.
//! Leaves take the compiled fields they need, never a `config` type. Everything
//! but `filter` (wasm32 only, the thin proxy-wasm layer that implements
//! `keys::host`'s traits over the ABI) is free of host calls and runs under plain
//! `cargo test`.

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

pub mod clock;
pub mod config;
pub mod decision;
pub mod exchange;
pub mod keys;
pub mod log;
pub mod oauth;
pub mod policy;
pub mod rejection;
pub mod request;
pub mod resource;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod filter;
