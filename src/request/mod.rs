//! The request: its headers, the host's header map, the path the upstream
//! resolves, and HTTP token characters.

pub mod header_map;
mod headers;
pub mod path;
pub mod tchar;

pub use headers::{same_header_name, HeaderValues, Request};
