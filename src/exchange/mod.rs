//! The outbound direction (RFC 8693 token exchange): a token on its way out is
//! swapped for one minted for its destination, so a workload never forwards the
//! token it received.
//!
//! ```text
//! settings     the `exchange` section, compiled
//! destination  which entry a request goes to (hosts, clusters, prefix)
//! outbound     what the request's token gets: exchanged, removed, refused, passed
//! remembered   exchanged tokens per worker, under their cache key
//!              (`oauth::cache_key`: a keyed digest of token + destination)
//! flights      exchanges under way: one callout per token and destination
//! depart       joining a flight, or sending the callout that starts one
//! grant        the RFC 8693 form and the client's authentication
//! answer       the token service's answer judged
//! landing      an answer made into what waiting requests get, and what is kept
//! lifetime     how long an exchanged token is used
//! ```

pub mod answer;
pub mod depart;
pub mod destination;
pub mod flights;
pub mod grant;
pub mod landing;
pub mod lifetime;
pub mod outbound;
pub mod remembered;
pub mod settings;
