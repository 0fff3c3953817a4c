//! Opaque tokens, vouched for by the provider's authorization server (RFC 7662):
//! the settings (`settings`), what is asked (`ask`) and by which callout
//! (`flight`), the answer judged (`answer`, `landing`), how long it is reused
//! (`lifetime`) and how the decision sees it (`vouched`).

pub mod answer;
pub mod ask;
pub mod flight;
pub mod landing;
pub mod lifetime;
pub mod settings;
pub mod vouched;
