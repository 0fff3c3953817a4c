//! The header-name oracle: which spellings of a name some server takes for one
//! header.

/// Header names that are one header to some server: ASCII case ignored, `_` read
/// as `-` (docs: output headers are removed in every spelling).
pub(crate) fn same_spelling(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().map(fold).eq(b.bytes().map(fold))
}
