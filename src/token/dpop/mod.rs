//! DPoP (RFC 9449): a token bound to a key its presenter holds (`cnf.jkt`), and
//! the proof of possession each request carries, checked here without the host.
//!
//! ```text
//! binding     whether a token needs a proof: its scheme, `cnf.jkt`, `required`
//! proof       a `DPoP` header read: its JOSE header and claims, no crypto
//! thumbprint  the RFC 7638 thumbprint of a public JWK, what `cnf.jkt` names
//! htu         the request URI as `htu` must name it, normalised (RFC 3986 §6.2)
//! nonce       stateless server nonces: the second issued and a MAC over it
//! checks      the proof against the request and its token, cheap checks first
//! prove       a provider's proof for a request: binding, cheap checks, what is left
//! replay      accepted proofs remembered across workers in shared data
//! failure     why a DPoP-bound request is refused (reason `dpop`)
//! settings    a provider's `dpop` section, compiled
//! ```

pub mod binding;
pub mod checks;
pub mod failure;
pub mod htu;
pub mod nonce;
pub mod proof;
pub mod prove;
pub mod replay;
pub mod settings;
pub mod thumbprint;
