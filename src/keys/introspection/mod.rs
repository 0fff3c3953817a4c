//! Opaque tokens, vouched for by the provider's authorization server (RFC 7662):
//! what is asked (`ask`), the answer judged (`answer`) and how long it is
//! reused (`lifetime`).

pub mod answer;
pub mod ask;
pub mod lifetime;
