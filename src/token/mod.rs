//! The token: the compact JWS and its strict JSON, where a request carries it,
//! the checks on its claims and type, and the verified tokens remembered.

pub mod cache;
pub mod claims;
pub mod dpop;
pub mod extract;
mod jws;
pub mod strict_json;
pub mod token68;
pub mod typ;

pub use jws::*;
