//! Route rules: which provider(s) a request must carry a token from. First match
//! wins; a request no rule matches needs a token from any provider.

use crate::request_path::ResolvedPath;

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
    fn matches(&self, method: &str, path: &ResolvedPath<'_>) -> bool {
        let lets_through_without_token = self.allow_missing || self.requires == Requirement::None;
        if path.ambiguous && lets_through_without_token {
            return false;
        }
        let path = path.matched.as_ref();
        let path_ok = match &self.path {
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatch::Exact(exact) => path == exact,
        };
        path_ok
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// The first rule matching `method` and `path`, or `fallback` (every provider, no
/// missing token allowed). Rules see the path as the upstream will resolve it
/// ([`ResolvedPath::matched`]), so `/%61dmin`, `//x/../admin` or `/x/..;/admin`
/// meet the rule for `/admin`; an ambiguous path never matches a rule that lets a
/// request through without a token.
pub fn applicable<'a>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    path: &ResolvedPath<'_>,
) -> Applicable<'a> {
    rules.iter().find(|rule| rule.matches(method, path)).map_or(
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
                Requirement::Provider(1),
            ),
            rule(PathMatch::Prefix("/".into()), &[], Requirement::Provider(0)),
        ];
        let fallback = Requirement::Any(vec![0, 1]);
        let at = |method, path| {
            applicable(&rules, &fallback, method, &resolve(path))
                .requires
                .clone()
        };
        assert_eq!(at("GET", "/health"), Requirement::None);
        assert_eq!(at("GET", "/healthz"), Requirement::Provider(0));
        assert_eq!(at("POST", "/admin/x"), Requirement::Provider(1));
        assert_eq!(at("GET", "/admin/x"), Requirement::Provider(0));
    }

    #[test]
    fn paths_are_matched_resolved() {
        let rules = vec![
            rule(
                PathMatch::Prefix("/admin".into()),
                &[],
                Requirement::Provider(0),
            ),
            rule(PathMatch::Prefix("/".into()), &[], Requirement::None),
        ];
        let fallback = Requirement::Any(vec![0]);
        for path in ["/%61dmin", "//admin/x", "/x/../admin", "/x/..;/admin"] {
            let found = applicable(&rules, &fallback, "GET", &resolve(path));
            assert_eq!(found.requires, &Requirement::Provider(0), "{path}");
        }
    }

    #[test]
    fn an_ambiguous_path_never_matches_a_rule_that_needs_no_token() {
        let mut open = rule(
            PathMatch::Prefix("/public".into()),
            &[],
            Requirement::Provider(0),
        );
        open.allow_missing = true;
        let rules = vec![
            rule(PathMatch::Prefix("/healthz".into()), &[], Requirement::None),
            open,
            rule(PathMatch::Prefix("/".into()), &[], Requirement::Provider(1)),
        ];
        let fallback = Requirement::Any(vec![0, 1]);
        for path in [
            "/healthz;x",
            "/healthz\\x",
            "/public;jsessionid=1/x",
            "/public%2Fx",
        ] {
            let found = applicable(&rules, &fallback, "GET", &resolve(path));
            assert_eq!(found.requires, &Requirement::Provider(1), "{path}");
            assert!(!found.allow_missing, "{path}");
        }
        let found = applicable(&rules, &fallback, "GET", &resolve("/healthz/x"));
        assert_eq!(found.requires, &Requirement::None);
    }

    #[test]
    fn no_match_falls_back_to_any_provider() {
        let rules = vec![rule(
            PathMatch::Prefix("/api".into()),
            &[],
            Requirement::None,
        )];
        let fallback = Requirement::Any(vec![0]);
        let found = applicable(&rules, &fallback, "GET", &resolve("/other"));
        assert_eq!(found.requires, &fallback);
        assert!(!found.allow_missing);
    }
}
