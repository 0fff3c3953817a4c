//! Keys: key sets (JWKS) and how a signature is checked against them, and the
//! remote key sets' lifecycle, natively and over two host traits (`host`:
//! `SharedData`, `Callouts`) that the filter implements over the proxy and the
//! tests over a fake:
//!
//! - `remote_sets`: providers grouped by key set; `key_copy`: this VM's copy.
//! - `fetcher`: a VM's fetches (lease, callouts, replies, late replies).
//! - `shared_state`: the fetch state and VM ids, by compare-and-swap.
//! - `fresh_keys`: re-read shared keys before refusing; hold or let go.
//! - `wait`: the one rule for whether a request waits for a fetch.
//! - `fetch_state`, `fetch_reply`, `discovery`: the records, replies, documents.
//! - `introspection`: opaque tokens, the authorization server's answer about each.

pub mod der;
pub mod discovery;
pub mod fetch_reply;
pub mod fetch_state;
pub mod fetcher;
pub mod fresh_keys;
pub mod host;
pub mod host_signature;
pub mod introspection;
pub mod jwks;
pub mod key_copy;
pub mod remote_sets;
pub mod shared_state;
pub mod store;
pub mod verify;
pub mod wait;
