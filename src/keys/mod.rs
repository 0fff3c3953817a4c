//! Keys: key sets (JWKS) and how a signature is checked against them, and the
//! remote key sets' lifecycle (discovery, fetch state, when a request waits).

pub mod der;
pub mod discovery;
pub mod fetch_reply;
pub mod fetch_state;
pub mod fetcher;
pub mod fresh_keys;
pub mod host;
pub mod host_signature;
pub mod jwks;
pub mod key_copy;
pub mod remote_sets;
pub mod shared_state;
pub mod store;
pub mod verify;
pub mod wait;
