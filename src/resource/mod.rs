//! What a resource tells its clients (RFC 9728, RFC 6750 §3, RFC 9470): its
//! protected resource metadata and where it is published (`metadata`), and
//! what a browser needs on the filter's own refusals (`cors`).

pub mod cors;
pub mod metadata;
