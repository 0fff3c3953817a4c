//! URI templates for rule matching (`match.template`), compiled once at configure
//! time, matched against the resolved path with the values of their variables.
//!
//! ```text
//! "/tenants/{tenant}/orders/**"  ─compile─▶  PathTemplate
//! .captures("/tenants/acme/orders/7")  ─▶  Some([("tenant", "acme")])
//! .captures("/tenants/acme")           ─▶  None
//! ```
//! Envoy's URI template syntax: `{name}` matches one path segment and captures
//! it, `*` matches one segment, `**` zero or more remaining segments (only at the
//! end); other segments match literally. A segment is never empty: `/a/{x}` does
//! not match `/a/` nor `/a//b`. [`Spelling::Lenient`] (rules that need a token)
//! compares literal segments ignoring ASCII case and lets a trailing `/` follow
//! the last segment.

use std::fmt;

/// A compiled `match.template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
    Any,
}

/// How strictly a path's spelling must follow a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// Exactly: literal text with its case, no trailing `/` beyond the rule's.
    Exact,
    /// As a lenient upstream serves it: literal text ignoring ASCII case, and a
    /// trailing `/` ignored (rules that need a token).
    Lenient,
}

/// Why a template is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// It does not start with `/`.
    NotAbsolute,
    /// `**` somewhere other than the last segment.
    RestNotLast,
    /// An empty segment (`//`, or a trailing `/` after a segment).
    EmptySegment,
    /// A variable name outside `[A-Za-z_][A-Za-z0-9_]*`, or `{…}` not a whole segment.
    BadVariable(String),
    /// The same variable twice.
    DuplicateVariable(String),
    /// `*`, `{`, `}` or `?` inside a literal segment.
    BadLiteral(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::NotAbsolute => f.write_str("must start with \"/\""),
            TemplateError::RestNotLast => f.write_str("'**' only at the end"),
            TemplateError::EmptySegment => f.write_str("empty path segment"),
            TemplateError::BadVariable(name) => write!(
                f,
                "variable \"{name}\": write {{name}} as a whole segment, name [A-Za-z_][A-Za-z0-9_]*"
            ),
            TemplateError::DuplicateVariable(name) => {
                write!(f, "variable \"{name}\" appears twice")
            }
            TemplateError::BadLiteral(segment) => write!(
                f,
                "segment \"{segment}\": '*', '{{', '}}' and '?' only as {{name}}, * or **"
            ),
        }
    }
}

impl PathTemplate {
    /// Compiles `text`.
    pub fn compile(text: &str) -> Result<PathTemplate, TemplateError> {
        let body = text.strip_prefix('/').ok_or(TemplateError::NotAbsolute)?;
        let mut segments = Vec::new();
        let mut rest = false;
        if body.is_empty() {
            return Ok(PathTemplate { segments, rest });
        }
        let parts: Vec<&str> = body.split('/').collect();
        let last = parts.len().saturating_sub(1);
        for (index, part) in parts.iter().enumerate() {
            let segment = match *part {
                "" => return Err(TemplateError::EmptySegment),
                "**" if index == last => {
                    rest = true;
                    continue;
                }
                "**" => return Err(TemplateError::RestNotLast),
                "*" => Segment::Any,
                variable if variable.starts_with('{') || variable.ends_with('}') => {
                    let name = variable
                        .strip_prefix('{')
                        .and_then(|v| v.strip_suffix('}'))
                        .filter(|name| valid_name(name))
                        .ok_or_else(|| TemplateError::BadVariable(variable.to_owned()))?;
                    let taken = segments
                        .iter()
                        .any(|s| matches!(s, Segment::Variable(n) if n == name));
                    if taken {
                        return Err(TemplateError::DuplicateVariable(name.to_owned()));
                    }
                    Segment::Variable(name.to_owned())
                }
                literal if literal.contains(['*', '{', '}', '?']) => {
                    return Err(TemplateError::BadLiteral(literal.to_owned()))
                }
                literal => Segment::Literal(literal.to_owned()),
            };
            segments.push(segment);
        }
        Ok(PathTemplate { segments, rest })
    }

    /// Whether the template has a variable called `name`.
    pub fn has_variable(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Variable(n) if n == name))
    }

    /// The variables' values when `path` (resolved, no query) matches in the
    /// given `spelling`, else `None`.
    pub fn captures<'t, 'p>(
        &'t self,
        path: &'p str,
        spelling: Spelling,
    ) -> Option<Vec<(&'t str, &'p str)>> {
        let body = path.strip_prefix('/')?;
        let mut parts = body.split('/');
        let mut captures = Vec::new();
        for segment in &self.segments {
            let part = parts.next().filter(|part| !part.is_empty())?;
            match segment {
                Segment::Literal(text) if text == part => {}
                Segment::Literal(text)
                    if spelling == Spelling::Lenient && text.eq_ignore_ascii_case(part) => {}
                Segment::Literal(_) => return None,
                Segment::Any => {}
                Segment::Variable(name) => captures.push((name.as_str(), part)),
            }
        }
        if self.rest {
            return Some(captures);
        }
        match parts.next() {
            None => Some(captures),
            // "/" alone is the root: a template "/" matches it; leniently, a
            // trailing "/" after any last segment.
            Some("")
                if (self.segments.is_empty() || spelling == Spelling::Lenient)
                    && parts.next().is_none() =>
            {
                Some(captures)
            }
            Some(_) => None,
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        matched_as(template, path, Spelling::Exact)
    }

    fn matched_as(template: &str, path: &str, spelling: Spelling) -> Option<Vec<(String, String)>> {
        let template = PathTemplate::compile(template).unwrap();
        template.captures(path, spelling).map(|captures| {
            captures
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        })
    }

    fn pairs(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn variables_capture_one_segment() {
        let t = "/tenants/{tenant}/orders/{id}";
        assert_eq!(
            matched(t, "/tenants/acme/orders/7"),
            pairs(&[("tenant", "acme"), ("id", "7")])
        );
        assert_eq!(matched(t, "/tenants/acme/orders"), None);
        assert_eq!(matched(t, "/tenants/acme/orders/7/x"), None);
        assert_eq!(matched(t, "/tenants//orders/7"), None);
        assert_eq!(matched(t, "/tenants/acme/orders/"), None);
        assert_eq!(matched(t, "/Tenants/acme/orders/7"), None);
    }

    #[test]
    fn lenient_spelling_ignores_case_and_a_trailing_slash() {
        let t = "/tenants/{tenant}/orders";
        for path in [
            "/TENANTS/Globex/orders",
            "/Tenants/Globex/ORDERS/",
            "/tenants/Globex/orders/",
        ] {
            assert_eq!(
                matched_as(t, path, Spelling::Lenient),
                pairs(&[("tenant", "Globex")]),
                "{path}"
            );
            assert_eq!(
                matched(t, path),
                (path == "/tenants/Globex/orders")
                    .then(|| pairs(&[("tenant", "Globex")]))
                    .flatten(),
                "{path}"
            );
        }
        for path in [
            "/tenants/globex/orders/x",
            "/tenants/globex",
            "/tenants//orders/",
        ] {
            assert_eq!(matched_as(t, path, Spelling::Lenient), None, "{path}");
        }
        assert_eq!(matched_as("/", "/", Spelling::Lenient), pairs(&[]));
        assert_eq!(matched_as("/a/*", "/A/b/", Spelling::Lenient), pairs(&[]));
    }

    #[test]
    fn stars_match_one_or_the_rest() {
        assert_eq!(matched("/a/*/c", "/a/b/c"), pairs(&[]));
        assert_eq!(matched("/a/*/c", "/a/c"), None);
        let rest = "/tenants/{tenant}/**";
        assert_eq!(matched(rest, "/tenants/acme"), pairs(&[("tenant", "acme")]));
        assert_eq!(
            matched(rest, "/tenants/acme/"),
            pairs(&[("tenant", "acme")])
        );
        assert_eq!(
            matched(rest, "/tenants/acme/x/y"),
            pairs(&[("tenant", "acme")])
        );
        assert_eq!(matched(rest, "/tenants"), None);
        assert_eq!(matched("/**", "/anything/at/all"), pairs(&[]));
        assert_eq!(matched("/", "/"), pairs(&[]));
        assert_eq!(matched("/", "/x"), None);
    }

    #[test]
    fn bad_templates_are_refused() {
        for (text, error) in [
            ("tenants/{t}", TemplateError::NotAbsolute),
            ("/a/**/b", TemplateError::RestNotLast),
            ("/a//b", TemplateError::EmptySegment),
            ("/a/", TemplateError::EmptySegment),
            ("/a/{1x}", TemplateError::BadVariable("{1x}".into())),
            ("/a/x{y}", TemplateError::BadVariable("x{y}".into())),
            ("/a/{t}/{t}", TemplateError::DuplicateVariable("t".into())),
            ("/a/b*", TemplateError::BadLiteral("b*".into())),
        ] {
            assert_eq!(PathTemplate::compile(text), Err(error), "{text}");
        }
        assert_eq!(
            TemplateError::RestNotLast.to_string(),
            "'**' only at the end"
        );
    }
}
