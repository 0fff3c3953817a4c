//! The request: its headers, the host's header map, the path the upstream
//! resolves, HTTP token characters, and form bodies for the callouts it causes.

pub mod form;
pub mod header_map;
mod headers;
pub mod path;
pub mod tchar;

pub use headers::{same_header_name, HeaderValues, Request};
