//! The path a request's upstream will resolve, which is the path rules must match.
//!
//! ```text
//! "/healthz/%2e%2e;/api"  ─resolve─▶  matched "/api", upstream "/api", ambiguous
//! "/api;v=1/orders"       ─resolve─▶  matched "/api/orders", upstream "/api;v=1/orders", ambiguous
//! "/a%2F..%5Cadmin"       ─resolve─▶  matched "/admin", upstream "/admin", ambiguous
//! "/%61dmin//x/../y"      ─resolve─▶  matched "/admin/y", upstream "/admin/y"
//! "/t/ac%2Fme/o"          ─resolve─▶  matched "/t/ac/me/o", unsplit "/t/ac%2Fme/o", ambiguous
//! ```
//! Servers differ in what they do with a path before routing it: RFC 3986 removes
//! dot segments; Tomcat and Spring also strip `;parameters` (some after
//! decoding `%3B`) from each segment first, so `..;x` is `..`; many decode `%2F`
//! and `%5C`, or read `\` as `/`.
//! audgate resolves a path the way the most permissive of them would, matches
//! rules against that, sends the upstream the same resolution (keeping segment
//! parameters, which some applications read), and marks a path that needed any
//! of those readings *ambiguous*: such a path never matches a rule that lets a
//! request through without a verified token. A path whose `%2F`, `%5C` or `\`
//! may or may not separate segments has two readings: split there, and *unsplit*
//! (each kept inside its segment, written `%2F` or `%5C`); a rule that needs a
//! token matches when either reading fits it, and a request meets the rule
//! of each reading.

use std::borrow::Cow;

/// One request path, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath<'a> {
    /// What rules are matched against: escapes of unreserved characters decoded,
    /// `\`, `%2F` and `%5C` read as `/`, `;parameters` stripped from each segment,
    /// dot segments resolved, repeated slashes merged. No query.
    pub matched: Cow<'a, str>,
    /// What goes upstream: as `matched`, but each segment keeps its `;parameters`.
    /// No query.
    pub upstream: Cow<'a, str>,
    /// The path held `;`, `\`, `%2F` or `%5C`: servers may read it differently,
    /// so it must not match a rule that needs no token.
    pub ambiguous: bool,
    /// The other reading of a path that held `%2F`, `%5C` or `\`: resolved as
    /// `matched`, but each of those kept inside its segment (as `%2F`, `%5C`), so a
    /// template's `{name}` sees `ac%2Fme` as one segment. `None` for other paths.
    pub unsplit: Option<String>,
}

impl ResolvedPath<'_> {
    /// Every reading of the path a rule may be matched against: the unsplit one
    /// first (when there is one), then `matched`.
    pub fn readings(&self) -> impl Iterator<Item = &str> {
        self.unsplit
            .as_deref()
            .into_iter()
            .chain([self.matched.as_ref()])
    }
}

/// Resolves `path` (`:path` without its query).
pub fn resolve(path: &str) -> ResolvedPath<'_> {
    let plain = !path.contains('%')
        && !path.contains("//")
        && !path.contains("/.")
        && !path.contains(';')
        && !path.contains('\\');
    if plain {
        return ResolvedPath {
            matched: Cow::Borrowed(path),
            upstream: Cow::Borrowed(path),
            ambiguous: false,
            unsplit: None,
        };
    }
    let (decoded, separator) = decode(path, Separators::Split);
    let (matched, upstream, parameters) = resolve_segments(&decoded);
    let unsplit = separator.then(|| {
        let (kept, _) = decode(path, Separators::Kept);
        resolve_segments(&kept).0
    });
    ResolvedPath {
        matched: Cow::Owned(matched),
        upstream: Cow::Owned(upstream),
        ambiguous: separator || parameters,
        unsplit,
    }
}

/// Resolves the segments of a decoded path: `;parameters` cut (and noted), dot
/// segments and repeated slashes resolved. Returns the path without and with the
/// parameters, and whether any segment had some.
fn resolve_segments(decoded: &str) -> (String, String, bool) {
    let mut ambiguous = false;
    let mut segments: Vec<(&str, &str)> = Vec::new();
    let mut last_was_dot = false;
    for segment in decoded.split('/') {
        let (stem, params) = match param_start(segment) {
            Some(at) => {
                ambiguous = true;
                segment.split_at(at)
            }
            None => (segment, ""),
        };
        last_was_dot = matches!(stem, "." | "..");
        match stem {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push((stem, params)),
        }
    }
    let trailing = decoded.ends_with('/') || last_was_dot;
    let render = |with_params: bool| {
        let mut out = String::with_capacity(decoded.len());
        for (stem, params) in &segments {
            out.push('/');
            out.push_str(stem);
            if with_params {
                out.push_str(params);
            }
        }
        if out.is_empty() || (trailing && !out.ends_with('/')) {
            out.push('/');
        }
        out
    };
    (render(false), render(true), ambiguous)
}

/// What [`decode`] makes of `%2F`, `%5C` and `\`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Separators {
    /// Each is read as `/`.
    Split,
    /// Each stays inside its segment, written `%2F` or `%5C`.
    Kept,
}

/// Where a segment's parameters begin: its first `;` or `%3B`.
fn param_start(segment: &str) -> Option<usize> {
    let bytes = segment.as_bytes();
    bytes.iter().enumerate().find_map(|(at, &byte)| {
        let semicolon = byte == b';'
            || (byte == b'%'
                && bytes
                    .get(at.saturating_add(1)..at.saturating_add(3))
                    .is_some_and(|hex| hex.eq_ignore_ascii_case(b"3b")));
        semicolon.then_some(at)
    })
}

/// Decodes escapes of unreserved characters (letters, digits, `-._~`) and reads
/// `%2F`, `%5C` and `\` as `separators` says; other escapes stay as they are, and
/// a `%` that starts no escape becomes `%25`. Returns the decoded path and whether
/// it held `%2F`, `%5C` or `\`.
fn decode(path: &str, separators: Separators) -> (String, bool) {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut separator = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index.saturating_add(1)..index.saturating_add(3)))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(c @ (b'/' | b'\\')) => {
                separator = true;
                out.push_str(match (separators, c) {
                    (Separators::Split, _) => "/",
                    (Separators::Kept, b'/') => "%2F",
                    (Separators::Kept, _) => "%5C",
                });
                index = index.saturating_add(3);
            }
            Some(c) if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => {
                out.push(char::from(c));
                index = index.saturating_add(3);
            }
            _ if byte == b'\\' => {
                separator = true;
                out.push_str(match separators {
                    Separators::Split => "/",
                    Separators::Kept => "%5C",
                });
                index = index.saturating_add(1);
            }
            // A `%` that starts no escape goes on as `%25`: decoding must never
            // form a new escape (`%%32e` → `%2e`) that an upstream would decode
            // again into what the rules did not see.
            None if byte == b'%' => {
                out.push_str("%25");
                index = index.saturating_add(1);
            }
            _ => {
                // Copy the next character whole (paths may hold UTF-8).
                let rest = path.get(index..).unwrap_or_default();
                let c = rest.chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                index = index.saturating_add(c.len_utf8());
            }
        }
    }
    (out, separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_borrowed_as_they_are() {
        for path in ["/", "/admin", "/a/b.c/d", ""] {
            let resolved = resolve(path);
            assert!(matches!(resolved.matched, Cow::Borrowed(_)), "{path}");
            assert_eq!(resolved.matched, path);
            assert_eq!(resolved.upstream, path);
            assert!(!resolved.ambiguous);
        }
    }

    #[test]
    fn rfc_3986_forms_resolve_and_are_not_ambiguous() {
        for (raw, want) in [
            ("/%61dmin/x", "/admin/x"),
            ("//admin", "/admin"),
            ("/public/../admin", "/admin"),
            ("/./admin/.", "/admin/"),
            ("/a/b/../../..", "/"),
            ("/%7euser/%zz/%", "/~user/%25zz/%25"),
            ("/caf\u{e9}//x", "/caf\u{e9}/x"),
            ("/healthz/%2e%2e/api", "/api"),
        ] {
            let resolved = resolve(raw);
            assert_eq!(resolved.matched, want, "{raw}");
            assert_eq!(resolved.upstream, want, "{raw}");
            assert!(!resolved.ambiguous, "{raw}");
        }
    }

    #[test]
    fn segment_parameters_are_stripped_for_matching_and_kept_upstream() {
        for (raw, matched, upstream) in [
            ("/healthz/%2e%2e;/api", "/api", "/api"),
            ("/healthz/..%3B/api", "/api", "/api"),
            ("/a%3bx/b", "/a/b", "/a%3bx/b"),
            ("/healthz/.%2e;x/api", "/api", "/api"),
            ("/healthz/..;/api", "/api", "/api"),
            ("/api;v=1/orders", "/api/orders", "/api;v=1/orders"),
            ("/admin;", "/admin", "/admin;"),
            ("/;x/admin", "/admin", "/admin"),
        ] {
            let resolved = resolve(raw);
            assert_eq!(resolved.matched, matched, "{raw}");
            assert_eq!(resolved.upstream, upstream, "{raw}");
            assert!(resolved.ambiguous, "{raw}");
        }
    }

    #[test]
    fn decoding_never_forms_a_new_escape() {
        for (raw, want) in [
            ("/public/%%32e%%32e/admin", "/public/%252e%252e/admin"),
            ("/public/x%%32F..%%32Fadmin", "/public/x%252F..%252Fadmin"),
            ("/a%", "/a%25"),
        ] {
            let resolved = resolve(raw);
            assert_eq!(resolved.matched, want, "{raw}");
            assert_eq!(
                resolve(&resolved.upstream).upstream,
                resolved.upstream,
                "{raw}: idempotent"
            );
        }
    }

    #[test]
    fn encoded_and_back_slashes_are_separators() {
        for (raw, want) in [
            ("/a%2F..%2Fadmin", "/admin"),
            ("/a%2f..%5cadmin", "/admin"),
            ("/a\\..\\admin", "/admin"),
            ("/healthz%2F..%2Fapi", "/api"),
        ] {
            let resolved = resolve(raw);
            assert_eq!(resolved.matched, want, "{raw}");
            assert_eq!(resolved.upstream, want, "{raw}");
            assert!(resolved.ambiguous, "{raw}");
        }
    }

    #[test]
    fn encoded_separators_also_have_an_unsplit_reading() {
        for (raw, split, unsplit) in [
            (
                "/tenants/ac%2Fme/orders/1",
                "/tenants/ac/me/orders/1",
                "/tenants/ac%2Fme/orders/1",
            ),
            ("/t/ac%2fme", "/t/ac/me", "/t/ac%2Fme"),
            ("/t/a%5cb/..", "/t/a/", "/t/"),
            ("/t/a\\b;x/c", "/t/a/b/c", "/t/a%5Cb/c"),
            ("/t/x%2F..%2Fglobex", "/t/globex", "/t/x%2F..%2Fglobex"),
        ] {
            let resolved = resolve(raw);
            assert_eq!(resolved.matched, split, "{raw}");
            assert_eq!(resolved.unsplit.as_deref(), Some(unsplit), "{raw}");
            assert!(resolved.ambiguous, "{raw}");
        }
        for raw in ["/a;x/b", "/%61dmin", "/a//b"] {
            let resolved = resolve(raw);
            assert_eq!(resolved.unsplit, None, "{raw}");
        }
    }
}
