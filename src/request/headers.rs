//! The request as the decision logic sees it: method, path, authority and every
//! header in order, and header names compared as servers compare them.

/// The request as the decision logic sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`, with its query.
    pub path: &'a str,
    /// `:authority`, the realm of challenges.
    pub authority: &'a str,
    /// Every request header, names lowercase, in order, repeats kept.
    pub headers: &'a [(String, String)],
}

impl<'a> Request<'a> {
    /// The request over stored headers: `:method`, `:path` and `:authority` are
    /// the first header of that name, else empty (as the host glue reads them).
    pub fn from_headers(headers: &'a [(String, String)]) -> Request<'a> {
        let pseudo = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .map_or("", |(_, value)| value.as_str())
        };
        Request {
            method: pseudo(":method"),
            path: pseudo(":path"),
            authority: pseudo(":authority"),
            headers,
        }
    }

    /// Whether header `name` (lowercase) is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(key, _)| key == name)
    }
}

/// Request headers by name, as token extraction reads them: [`Request`], or a
/// view over the host's serialized map (`fast_path`).
pub trait HeaderValues {
    /// Every value of header `name` (lowercase), in order.
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's;
}

impl HeaderValues for Request<'_> {
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Whether two header names are the same header to some server: ASCII case
/// ignored, and `_` read as `-` (CGI-style servers expose both as `HTTP_X_USER`).
pub fn same_header_name(a: &str, b: &str) -> bool {
    let fold = |byte: u8| match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}
