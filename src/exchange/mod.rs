//! The outbound direction (RFC 8693 token exchange): a token on its way out is
//! swapped for one minted for its destination, so a workload never forwards the
//! token it received. Pure parts so far: which destination a request goes to,
//! the exchange request, the token service's answer judged, how long an
//! exchanged token is used, and the exchanged tokens remembered (`remembered`).
//! Not yet in the configuration: the filter does not exchange tokens yet.

pub mod answer;
pub mod destination;
pub mod grant;
pub mod lifetime;
pub mod remembered;
