//! Route rules: which provider(s) a request must carry a token from. First match
//! wins; a request no rule matches needs a token from any provider.

use std::borrow::Cow;

/// What a matched request must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing: the token is neither checked nor removed.
    None,
    /// A token from this provider (index into `Config::providers`).
    Provider(usize),
    /// A token from at least one of these providers.
    Any(Vec<usize>),
    /// A token from each of these providers.
    All(Vec<usize>),
}

/// How a rule matches the path (compared without its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path starts with this.
    Prefix(String),
    /// The path is exactly this.
    Exact(String),
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Which paths.
    pub path: PathMatch,
    /// Which methods; empty means any.
    pub methods: Vec<String>,
    /// What the request must carry.
    pub requires: Requirement,
    /// A request with no token at all passes; a present token must still verify.
    pub allow_missing: bool,
}

/// The requirement that applies to a request, and whether a missing token passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applicable<'a> {
    /// What the request must carry.
    pub requires: &'a Requirement,
    /// Whether a request without any token passes.
    pub allow_missing: bool,
}

impl Rule {
    fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatch::Exact(exact) => path == exact,
        };
        path_ok
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// The first rule matching `method` and `path` (`:path` with or without a query),
/// or `fallback` (every provider, no missing token allowed). The path is matched
/// in its normalised form, so `/%61dmin` or `//x/../admin` meet the rule for
/// `/admin` even where Envoy does not normalise paths itself.
pub fn applicable<'a>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    path: &str,
) -> Applicable<'a> {
    let path = path.split_once('?').map_or(path, |(before, _)| before);
    let path = normalized(path);
    rules
        .iter()
        .find(|rule| rule.matches(method, &path))
        .map_or(
            Applicable {
                requires: fallback,
                allow_missing: false,
            },
            |rule| Applicable {
                requires: &rule.requires,
                allow_missing: rule.allow_missing,
            },
        )
}

/// `path` as RFC 3986 normalisation would leave it, plus merged slashes: escapes of
/// unreserved characters decoded, repeated slashes merged, `.` and `..` segments
/// resolved. Other escapes (such as `%2F`) stay as they are.
pub fn normalized(path: &str) -> Cow<'_, str> {
    let suspicious = path.contains('%') || path.contains("//") || path.contains("/.");
    if !suspicious {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Decodes `%XX` escapes of unreserved characters (letters, digits, `-._~`).
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index.saturating_add(1)..index.saturating_add(3)))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|c| c.is_ascii_alphanumeric() || b"-._~".contains(c));
        match escaped {
            Some(c) => {
                out.push(char::from(c));
                index = index.saturating_add(3);
            }
            None => {
                // Copy the next character whole (paths may hold UTF-8).
                let rest = path.get(index..).unwrap_or_default();
                let c = rest.chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                index = index.saturating_add(c.len_utf8());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: PathMatch, methods: &[&str], requires: Requirement) -> Rule {
        Rule {
            path,
            methods: methods.iter().map(|m| m.to_string()).collect(),
            requires,
            allow_missing: false,
        }
    }

    #[test]
    fn first_match_wins_and_query_is_ignored() {
        let rules = vec![
            rule(PathMatch::Exact("/health".into()), &[], Requirement::None),
            rule(
                PathMatch::Prefix("/admin".into()),
                &["POST"],
                Requirement::Provider(1),
            ),
            rule(PathMatch::Prefix("/".into()), &[], Requirement::Provider(0)),
        ];
        let fallback = Requirement::Any(vec![0, 1]);
        let at = |method, path| applicable(&rules, &fallback, method, path).requires.clone();
        assert_eq!(at("GET", "/health?x=1"), Requirement::None);
        assert_eq!(at("GET", "/healthz"), Requirement::Provider(0));
        assert_eq!(at("POST", "/admin/x"), Requirement::Provider(1));
        assert_eq!(at("GET", "/admin/x"), Requirement::Provider(0));
    }

    #[test]
    fn paths_are_matched_normalised() {
        for (raw, want) in [
            ("/admin", "/admin"),
            ("/%61dmin/x", "/admin/x"),
            ("//admin", "/admin"),
            ("/public/../admin", "/admin"),
            ("/./admin/.", "/admin/"),
            ("/a/b/../../..", "/"),
            ("/admin%2Fx", "/admin%2Fx"),
            ("/%7euser/%zz/%", "/~user/%zz/%"),
            ("/caf\u{e9}//x", "/caf\u{e9}/x"),
            ("", ""),
        ] {
            assert_eq!(normalized(raw), want, "{raw}");
        }
        let rules = vec![
            rule(
                PathMatch::Prefix("/admin".into()),
                &[],
                Requirement::Provider(0),
            ),
            rule(PathMatch::Prefix("/".into()), &[], Requirement::None),
        ];
        let fallback = Requirement::Any(vec![0]);
        for path in ["/%61dmin", "//admin/x", "/x/../admin?q=1"] {
            let found = applicable(&rules, &fallback, "GET", path);
            assert_eq!(found.requires, &Requirement::Provider(0), "{path}");
        }
    }

    #[test]
    fn no_match_falls_back_to_any_provider() {
        let rules = vec![rule(
            PathMatch::Prefix("/api".into()),
            &[],
            Requirement::None,
        )];
        let fallback = Requirement::Any(vec![0]);
        let found = applicable(&rules, &fallback, "GET", "/other");
        assert_eq!(found.requires, &fallback);
        assert!(!found.allow_missing);
    }
}
