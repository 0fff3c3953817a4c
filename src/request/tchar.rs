//! HTTP token characters (RFC 9110 5.6.2): what a header name or a method is made of.

/// Whether `b` may appear in an HTTP token (a header name, a method).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
