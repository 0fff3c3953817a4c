//! `${…}` placeholders in configured strings: parsed once at configure time,
//! `${node.KEY}` filled then, `${path.NAME}` and `${header.NAME}` per request.
//!
//! ```text
//! "spiffe://cluster.local/ns/${node.NAMESPACE}/sa/${node.SERVICE_ACCOUNT}"
//!     ─fill_node(metadata)─▶ "spiffe://cluster.local/ns/shop/sa/orders"   (configure time)
//! "${path.tenant}"  ─Pattern::parse─▶  [Path("tenant")]
//!     ─expand(bindings)─▶  Some("acme")  |  None when it cannot be filled  (per request)
//! ```
//! `$$` is a literal `$`; a `$` not followed by `{` or `$` is itself. A
//! placeholder that cannot be filled is never an empty string: at configure
//! time it is an error, per request the value does not exist.

use std::fmt;

use crate::request::{same_header_name, Request};

/// Why a configured string's placeholders are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceholderError {
    /// `${` without its `}`.
    Unclosed,
    /// `${kind.NAME}` of a kind not known at all (or without a name).
    NotAllowed(String),
    /// A known placeholder (`path.tenant`) in a field that does not take it; the
    /// fields that do.
    Misplaced(String, Home),
    /// `${node.KEY}` whose key the proxy's node metadata does not have (or has
    /// as an empty or non-string value).
    MissingNodeKey(String),
}

impl fmt::Display for PlaceholderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaceholderError::Unclosed => {
                f.write_str("\"${\" without a closing \"}\" (write $$ for a literal $)")
            }
            PlaceholderError::NotAllowed(text) => write!(
                f,
                "unknown placeholder \"${{{text}}}\" here (write $$ for a literal $)"
            ),
            PlaceholderError::Misplaced(text, home) => write!(
                f,
                "${{{text}}} is only allowed in {home}; write $$ for a literal $"
            ),
            PlaceholderError::MissingNodeKey(key) => write!(
                f,
                "${{node.{key}}}: the proxy's node metadata has no string value {key}"
            ),
        }
    }
}

/// The fields a kind of placeholder belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// `${path.…}`, `${header.…}`: values of a rule's `claims`.
    RuleClaims,
    /// `${node.…}`: `audiences` of a provider or of a rule's provider object.
    Audiences,
}

impl fmt::Display for Home {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Home::RuleClaims => "a rule's claims",
            Home::Audiences => "audiences",
        })
    }
}

/// The refusal of `${kind.name}` where it is not allowed: misplaced when the
/// kind is known, unknown otherwise.
fn refused(kind: &str, name: &str) -> PlaceholderError {
    let text = format!("{kind}.{name}");
    match kind {
        _ if name.is_empty() => PlaceholderError::NotAllowed(text),
        "path" | "header" => PlaceholderError::Misplaced(text, Home::RuleClaims),
        "node" => PlaceholderError::Misplaced(text, Home::Audiences),
        _ => PlaceholderError::NotAllowed(text),
    }
}

/// The kinds of placeholder a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// `${path.NAME}`.
    pub path: bool,
    /// `${header.NAME}`.
    pub header: bool,
}

/// One piece of a parsed string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Path(String),
    Header(String),
}

/// A configured string value with its per-request placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

/// What per-request placeholders are filled from.
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'b> {
    /// The variables the rule's `match.template` captured.
    pub captures: &'b [(&'b str, &'b str)],
    /// The request, for `${header.NAME}`.
    pub request: &'b Request<'b>,
}

impl Pattern {
    /// A pattern that is this text exactly (no placeholders, `$` as is).
    pub fn literal(text: &str) -> Pattern {
        Pattern {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// Parses `text`, accepting the placeholder kinds in `allowed`.
    pub fn parse(text: &str, allowed: Allowed) -> Result<Pattern, PlaceholderError> {
        let mut parts = Vec::new();
        for piece in pieces(text)? {
            let part = match piece {
                Piece::Text(text) => Part::Text(text),
                Piece::Placeholder(kind, name) => match kind {
                    "path" if allowed.path && !name.is_empty() => Part::Path(name.to_owned()),
                    "header" if allowed.header && !name.is_empty() => {
                        Part::Header(name.to_ascii_lowercase())
                    }
                    _ => return Err(refused(kind, name)),
                },
                Piece::Bare(inner) => return Err(PlaceholderError::NotAllowed(inner.to_owned())),
            };
            parts.push(part);
        }
        Ok(Pattern { parts })
    }

    /// The `${path.NAME}` names this pattern uses.
    pub fn path_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Path(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the pattern uses a `${header.NAME}`.
    pub fn reads_headers(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Header(_)))
    }

    /// The pattern as configured: its text, and each placeholder as written
    /// (`${path.NAME}`, `${header.NAME}`), for the log.
    pub fn as_configured(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Path(name) => format!("${{path.{name}}}"),
                Part::Header(name) => format!("${{header.{name}}}"),
            })
            .collect()
    }

    /// Whether the pattern is fixed text (needs nothing from the request).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|part| matches!(part, Part::Text(_)))
    }

    /// The value for this request; `None` when a placeholder cannot be filled (a
    /// variable not captured, a header absent, empty, or sent more than once in
    /// any spelling).
    pub fn expand(&self, bindings: Option<&Bindings<'_>>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Path(name) => {
                    let (_, value) = bindings?.captures.iter().find(|(n, _)| n == name)?;
                    out.push_str(non_empty(value)?);
                }
                Part::Header(name) => out.push_str(non_empty(only_value(bindings?, name)?)?),
            }
        }
        Some(out)
    }
}

/// The one value of header `name` in the request, taking every spelling of the
/// name as it ([`same_header_name`]: ASCII case ignored, `_` read as `-`, as
/// CGI-style servers read them); `None` when absent or sent more than once, in
/// one spelling or several (`x-tenant` and `x_tenant`).
fn only_value<'b>(bindings: &Bindings<'b>, name: &str) -> Option<&'b str> {
    let mut values = bindings
        .request
        .headers
        .iter()
        .filter(|(key, _)| same_header_name(key, name))
        .map(|(_, value)| value.as_str());
    let value = values.next()?;
    values.next().is_none().then_some(value)
}

/// `value` unless it is empty: a placeholder is never filled with "".
fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

/// Fills every `${node.KEY}` of `text` from `metadata` (configure time). Any other
/// placeholder is refused.
pub fn fill_node(
    text: &str,
    metadata: &dyn Fn(&str) -> Option<String>,
) -> Result<String, PlaceholderError> {
    let mut out = String::new();
    for piece in pieces(text)? {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Placeholder("node", key) if !key.is_empty() => {
                match metadata(key).filter(|value| !value.is_empty()) {
                    Some(value) => out.push_str(&value),
                    None => return Err(PlaceholderError::MissingNodeKey(key.to_owned())),
                }
            }
            Piece::Placeholder(kind, name) => return Err(refused(kind, name)),
            Piece::Bare(inner) => return Err(PlaceholderError::NotAllowed(inner.to_owned())),
        }
    }
    Ok(out)
}

/// Whether `text` holds any `${` (so it needs filling).
pub fn has_placeholder(text: &str) -> bool {
    pieces(text).map_or(true, |pieces| {
        pieces.iter().any(|piece| !matches!(piece, Piece::Text(_)))
    })
}

enum Piece<'t> {
    Text(String),
    Placeholder(&'t str, &'t str),
    Bare(&'t str),
}

/// Splits `text` into literal text and `${kind.name}` placeholders.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, PlaceholderError> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let (before, from) = rest.split_at(at);
        literal.push_str(before);
        if let Some(after) = from.strip_prefix("$$") {
            literal.push('$');
            rest = after;
        } else if let Some(inner_on) = from.strip_prefix("${") {
            let end = inner_on.find('}').ok_or(PlaceholderError::Unclosed)?;
            let (inner, after) = inner_on.split_at(end);
            if !literal.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut literal)));
            }
            out.push(match inner.split_once('.') {
                Some((kind, name)) => Piece::Placeholder(kind, name),
                None => Piece::Bare(inner),
            });
            rest = after.get(1..).unwrap_or_default();
        } else {
            literal.push('$');
            rest = from.get(1..).unwrap_or_default();
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() || out.is_empty() {
        out.push(Piece::Text(literal));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Allowed = Allowed {
        path: true,
        header: true,
    };

    fn request<'a>(headers: &'a [(String, String)]) -> Request<'a> {
        Request {
            method: "GET",
            path: "/",
            authority: "svc",
            headers,
        }
    }

    #[test]
    fn literal_text_and_dollars() {
        let p = Pattern::parse("a$$b$c", ALL).unwrap();
        assert!(p.is_literal());
        assert_eq!(p.expand(None).as_deref(), Some("a$b$c"));
        assert_eq!(
            Pattern::parse("", ALL).unwrap().expand(None).as_deref(),
            Some("")
        );
    }

    #[test]
    fn path_and_header_values_per_request() {
        let p = Pattern::parse("t-${path.tenant}/${header.X-Tenant}", ALL).unwrap();
        assert_eq!(p.path_names().collect::<Vec<_>>(), vec!["tenant"]);
        assert!(p.reads_headers());
        assert!(!Pattern::parse("t-${path.tenant}", ALL)
            .unwrap()
            .reads_headers());
        let headers = vec![("x-tenant".to_string(), "acme".to_string())];
        let request = request(&headers);
        let captures = [("tenant", "acme")];
        let bindings = Bindings {
            captures: &captures,
            request: &request,
        };
        assert_eq!(p.expand(Some(&bindings)).as_deref(), Some("t-acme/acme"));
        let twice = vec![
            ("x-tenant".to_string(), "acme".to_string()),
            ("x-tenant".to_string(), "globex".to_string()),
        ];
        let request = super::tests::request(&twice);
        let bindings = Bindings {
            captures: &captures,
            request: &request,
        };
        assert_eq!(
            p.expand(Some(&bindings)),
            None,
            "a repeated header fills nothing"
        );
        let none: [(String, String); 0] = [];
        let request = super::tests::request(&none);
        let bindings = Bindings {
            captures: &[],
            request: &request,
        };
        assert_eq!(p.expand(Some(&bindings)), None);
    }

    #[test]
    fn unknown_or_disallowed_placeholders_are_refused() {
        let only_path = Allowed {
            path: true,
            header: false,
        };
        for (text, allowed, error) in [
            (
                "${header.x}",
                only_path,
                PlaceholderError::Misplaced("header.x".into(), Home::RuleClaims),
            ),
            (
                "${node.NAMESPACE}",
                ALL,
                PlaceholderError::Misplaced("node.NAMESPACE".into(), Home::Audiences),
            ),
            (
                "${env.HOME}",
                ALL,
                PlaceholderError::NotAllowed("env.HOME".into()),
            ),
            (
                "${tenant}",
                ALL,
                PlaceholderError::NotAllowed("tenant".into()),
            ),
            (
                "${path.}",
                ALL,
                PlaceholderError::NotAllowed("path.".into()),
            ),
            ("${path.x", ALL, PlaceholderError::Unclosed),
        ] {
            assert_eq!(Pattern::parse(text, allowed), Err(error), "{text}");
        }
    }

    #[test]
    fn node_keys_are_filled_once_or_refuse() {
        let metadata = |key: &str| match key {
            "NAMESPACE" => Some("shop".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            fill_node("spiffe://c/ns/${node.NAMESPACE}/x$$", &metadata).as_deref(),
            Ok("spiffe://c/ns/shop/x$")
        );
        for (key, text) in [
            ("SERVICE_ACCOUNT", "${node.SERVICE_ACCOUNT}"),
            ("EMPTY", "${node.EMPTY}"),
        ] {
            assert_eq!(
                fill_node(text, &metadata),
                Err(PlaceholderError::MissingNodeKey(key.into()))
            );
        }
        assert_eq!(
            fill_node("${path.x}", &metadata),
            Err(PlaceholderError::Misplaced(
                "path.x".into(),
                Home::RuleClaims
            ))
        );
        assert!(has_placeholder("a${node.X}"));
        assert!(!has_placeholder("a$$b"));
    }
    /// Issue 21, finding 4: an empty header value or capture fills nothing.
    #[test]
    fn an_empty_header_or_capture_fills_nothing() {
        let p = Pattern::parse("${header.x-tenant}", ALL).unwrap();
        let empty = vec![("x-tenant".to_string(), String::new())];
        let request = request(&empty);
        let bindings = Bindings {
            captures: &[],
            request: &request,
        };
        assert_eq!(p.expand(Some(&bindings)), None);
        let p = Pattern::parse("t-${path.tenant}", ALL).unwrap();
        let captures = [("tenant", "")];
        let bindings = Bindings {
            captures: &captures,
            request: &request,
        };
        assert_eq!(p.expand(Some(&bindings)), None);
    }

    /// Issue 21, finding 5: a header sent in two spellings (`x-tenant` and
    /// `x_tenant`) fills nothing; one value in another spelling fills it.
    #[test]
    fn a_bound_header_in_several_spellings_fills_nothing() {
        let p = Pattern::parse("${header.X-Tenant}", ALL).unwrap();
        let expand = |pairs: &[(&str, &str)]| {
            let headers: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let request = request(&headers);
            let bindings = Bindings {
                captures: &[],
                request: &request,
            };
            p.expand(Some(&bindings))
        };
        assert_eq!(expand(&[("x-tenant", "acme")]).as_deref(), Some("acme"));
        assert_eq!(expand(&[("x_tenant", "acme")]).as_deref(), Some("acme"));
        assert_eq!(
            expand(&[("x-tenant", "acme"), ("x_tenant", "globex")]),
            None
        );
        assert_eq!(expand(&[("x_tenant", "acme"), ("X_TENANT", "acme")]), None);
        assert_eq!(
            expand(&[("x-tenant", "acme"), ("x-tenants", "globex")]).as_deref(),
            Some("acme")
        );
    }

    /// Issue 21, finding 12: a known placeholder out of its place says where it
    /// belongs, for the user.
    #[test]
    fn misplaced_placeholders_say_where_they_belong() {
        let none = Allowed {
            path: false,
            header: false,
        };
        let error = Pattern::parse("${path.tenant}", none).unwrap_err();
        assert_eq!(
            error.to_string(),
            "${path.tenant} is only allowed in a rule's claims; write $$ for a literal $"
        );
        let error = Pattern::parse("x${node.NS}", none).unwrap_err();
        assert_eq!(
            error.to_string(),
            "${node.NS} is only allowed in audiences; write $$ for a literal $"
        );
        assert_eq!(
            Pattern::parse("a$$b", none)
                .unwrap()
                .expand(None)
                .as_deref(),
            Some("a$b")
        );
    }
}
