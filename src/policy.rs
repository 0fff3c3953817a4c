//! Route rules: which provider(s) a request must carry a token from. First match
//! wins; a request no rule matches needs a token from any provider.

use crate::request_path::ResolvedPath;
pub use crate::requirement::{Demand, Requirement};
use crate::template::PathTemplate;

/// How a rule matches the path (compared without its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path starts with this.
    Prefix(String),
    /// The path is exactly this.
    Exact(String),
    /// The path matches this URI template, whose variables it captures.
    Template(PathTemplate),
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
pub struct Applicable<'a, 'p> {
    /// What the request must carry.
    pub requires: &'a Requirement,
    /// Whether a request without any token passes.
    pub allow_missing: bool,
    /// The values of the rule's template variables (`${path.NAME}`).
    pub captures: Vec<(&'a str, &'p str)>,
}

impl Rule {
    /// The template captures when the rule matches, else `None`.
    fn matches<'a, 'p>(
        &'a self,
        method: &str,
        path: &'p ResolvedPath<'_>,
    ) -> Option<Vec<(&'a str, &'p str)>> {
        let lets_through_without_token = self.allow_missing || self.requires == Requirement::None;
        if path.ambiguous && lets_through_without_token {
            return None;
        }
        let method_ok =
            self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
        if !method_ok {
            return None;
        }
        let path = path.matched.as_ref();
        match &self.path {
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()).then(Vec::new),
            PathMatch::Exact(exact) => (path == exact).then(Vec::new),
            PathMatch::Template(template) => template.captures(path),
        }
    }
}

/// The first rule matching `method` and `path`, or `fallback` (every provider, no
/// missing token allowed). Rules see the path as the upstream will resolve it
/// ([`ResolvedPath::matched`]), so `/%61dmin`, `//x/../admin` or `/x/..;/admin`
/// meet the rule for `/admin`; an ambiguous path never matches a rule that lets a
/// request through without a token.
pub fn applicable<'a, 'p>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    path: &'p ResolvedPath<'_>,
) -> Applicable<'a, 'p> {
    rules
        .iter()
        .find_map(|rule| {
            let captures = rule.matches(method, path)?;
            Some(Applicable {
                requires: &rule.requires,
                allow_missing: rule.allow_missing,
                captures,
            })
        })
        .unwrap_or(Applicable {
            requires: fallback,
            allow_missing: false,
            captures: Vec::new(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_path::resolve;

    fn rule(path: PathMatch, methods: &[&str], requires: Requirement) -> Rule {
        Rule {
            path,
            methods: methods.iter().map(|m| m.to_string()).collect(),
            requires,
            allow_missing: false,
        }
    }

    #[test]
    fn first_match_wins() {
        let rules = vec![
            rule(PathMatch::Exact("/health".into()), &[], Requirement::None),
            rule(
                PathMatch::Prefix("/admin".into()),
                &["POST"],
                Requirement::Provider(Demand::of(1)),
            ),
            rule(
                PathMatch::Prefix("/".into()),
                &[],
                Requirement::Provider(Demand::of(0)),
            ),
        ];
        let fallback = Requirement::Any(vec![Demand::of(0), Demand::of(1)]);
        let at = |method, path| {
            applicable(&rules, &fallback, method, &resolve(path))
                .requires
                .clone()
        };
        assert_eq!(at("GET", "/health"), Requirement::None);
        assert_eq!(at("GET", "/healthz"), Requirement::Provider(Demand::of(0)));
        assert_eq!(at("POST", "/admin/x"), Requirement::Provider(Demand::of(1)));
        assert_eq!(at("GET", "/admin/x"), Requirement::Provider(Demand::of(0)));
    }

    #[test]
    fn paths_are_matched_resolved() {
        let rules = vec![
            rule(
                PathMatch::Prefix("/admin".into()),
                &[],
                Requirement::Provider(Demand::of(0)),
            ),
            rule(PathMatch::Prefix("/".into()), &[], Requirement::None),
        ];
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        for path in ["/%61dmin", "//admin/x", "/x/../admin", "/x/..;/admin"] {
            let resolved = resolve(path);
            let found = applicable(&rules, &fallback, "GET", &resolved);
            assert_eq!(
                found.requires,
                &Requirement::Provider(Demand::of(0)),
                "{path}"
            );
        }
    }

    #[test]
    fn an_ambiguous_path_never_matches_a_rule_that_needs_no_token() {
        let mut open = rule(
            PathMatch::Prefix("/public".into()),
            &[],
            Requirement::Provider(Demand::of(0)),
        );
        open.allow_missing = true;
        let rules = vec![
            rule(PathMatch::Prefix("/healthz".into()), &[], Requirement::None),
            open,
            rule(
                PathMatch::Prefix("/".into()),
                &[],
                Requirement::Provider(Demand::of(1)),
            ),
        ];
        let fallback = Requirement::Any(vec![Demand::of(0), Demand::of(1)]);
        for path in [
            "/healthz;x",
            "/healthz\\x",
            "/public;jsessionid=1/x",
            "/public%2Fx",
        ] {
            let resolved = resolve(path);
            let found = applicable(&rules, &fallback, "GET", &resolved);
            assert_eq!(
                found.requires,
                &Requirement::Provider(Demand::of(1)),
                "{path}"
            );
            assert!(!found.allow_missing, "{path}");
        }
        let path = resolve("/healthz/x");
        let found = applicable(&rules, &fallback, "GET", &path);
        assert_eq!(found.requires, &Requirement::None);
    }

    #[test]
    fn templates_match_segments_and_capture() {
        let template = PathTemplate::compile("/tenants/{tenant}/orders/**").unwrap();
        let rules = vec![rule(
            PathMatch::Template(template),
            &["GET"],
            Requirement::None,
        )];
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        let path = resolve("/tenants/%61cme/orders/7");
        let found = applicable(&rules, &fallback, "GET", &path);
        assert_eq!(found.requires, &Requirement::None);
        assert_eq!(found.captures, vec![("tenant", "acme")]);
        let found = applicable(&rules, &fallback, "POST", &path);
        assert_eq!(found.requires, &fallback);
        let path = resolve("/tenants/acme");
        let found = applicable(&rules, &fallback, "GET", &path);
        assert_eq!(found.requires, &fallback);
    }

    #[test]
    fn no_match_falls_back_to_any_provider() {
        let rules = vec![rule(
            PathMatch::Prefix("/api".into()),
            &[],
            Requirement::None,
        )];
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        let path = resolve("/other");
        let found = applicable(&rules, &fallback, "GET", &path);
        assert_eq!(found.requires, &fallback);
        assert!(!found.allow_missing);
    }
}
