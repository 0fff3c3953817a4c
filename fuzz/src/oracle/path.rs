//! The path oracle: how the most permissive upstream reads a path, from
//! docs/configuration.md "Rule" (see fuzz/README.md, `decision`, the oracles).

/// Whether the byte is a hex digit.
fn is_hex(byte: u8) -> bool {
    byte.is_ascii_hexdigit()
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

/// The escape `%XX` at `bytes[at..]`, decoded (strict: two hex digits).
fn escape_at(bytes: &[u8], at: usize) -> Option<u8> {
    match bytes.get(at..at + 3) {
        Some([b'%', high, low]) if is_hex(*high) && is_hex(*low) => {
            Some(hex_value(*high) << 4 | hex_value(*low))
        }
        _ => None,
    }
}

/// The one decoding the most permissive upstream applies: escapes of unreserved
/// characters (letters, digits, `-._~`) decoded, `%2F`, `%5C` and `\` read as
/// `/`, other escapes kept as they are. The result is a path again, so a `%` that
/// starts no escape (a literal percent sign) is written `%25`: read once more, the
/// reading must not hold an escape the request did not (`%%32e` reads `%252e`, the
/// text `%2e`, not `..`).
fn decode_once(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match escape_at(bytes, at) {
            Some(c) if c.is_ascii_alphanumeric() || b"-._~/\\".contains(&c) => {
                out.push(if c == b'\\' { b'/' } else { c });
                at += 3;
            }
            Some(_) => {
                out.extend_from_slice(&bytes[at..at + 3]);
                at += 3;
            }
            None => {
                match bytes[at] {
                    b'\\' => out.push(b'/'),
                    b'%' => out.extend_from_slice(b"%25"),
                    other => out.push(other),
                }
                at += 1;
            }
        }
    }
    out
}

/// Whether a server may read `path` (no query) differently from the one reading
/// of `upstream_reading`: it holds `;`, `\`, `%2F`, `%5C` or `%3B` (docs: such a
/// path is *ambiguous*).
pub(crate) fn is_ambiguous(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains([';', '\\']) || ["%2f", "%5c", "%3b"].iter().any(|e| lower.contains(e))
}

/// The path (no query) as the most permissive upstream resolves it, from
/// docs/configuration.md "Rule": escapes of unreserved characters decoded, `\`,
/// `%2F` and `%5C` read as `/`, `;parameters` (also after `%3B`) stripped from
/// each segment, dot segments resolved (RFC 3986 5.2.4), repeated slashes merged.
/// A segment left empty by stripping its parameters is an empty segment (so
/// `/a/;p` is `/a/`, as Tomcat reads it).
pub(crate) fn upstream_reading(path: &str) -> String {
    read_path(path).0
}

/// `upstream_reading`, and when the path ends in a segment that only its
/// parameters made empty (`/a/;p`), also the reading that merges it away (`/a`):
/// the docs do not say which, and the decision may take either.
pub(crate) fn upstream_readings(path: &str) -> Vec<String> {
    let (reading, emptied_last) = read_path(path);
    match reading.strip_suffix('/') {
        Some(merged) if emptied_last && !merged.is_empty() => {
            let merged = merged.to_owned();
            vec![reading, merged]
        }
        _ => vec![reading],
    }
}

/// The reading, and whether its last segment was emptied by its parameters.
fn read_path(path: &str) -> (String, bool) {
    let decoded = String::from_utf8_lossy(&decode_once(path)).into_owned();
    let mut stack: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').collect();
    let mut trailing = false;
    let mut emptied_last = false;
    for (index, segment) in segments.iter().enumerate() {
        let lower = segment.to_ascii_lowercase();
        let cut = [lower.find(';'), lower.find("%3b")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(segment.len());
        let stem = &segment[..cut];
        let last = index + 1 == segments.len();
        emptied_last = last && stem.is_empty() && !segment.is_empty();
        match stem {
            "" | "." => trailing = last && index > 0,
            ".." => {
                stack.pop();
                trailing = last;
            }
            _ => {
                stack.push(stem);
                trailing = false;
            }
        }
    }
    let mut out = String::from("/");
    out.push_str(&stack.join("/"));
    if trailing && !stack.is_empty() {
        out.push('/');
    }
    (out, emptied_last)
}

/// `path` without its trailing slashes; the root stays `/`.
pub(crate) fn without_trailing_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// Percent-decodes every escape (for finding a token however it was spelled).
pub(crate) fn decode_all(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match escape_at(bytes, at) {
            Some(c) => {
                out.push(c);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
