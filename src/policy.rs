//! Route rules: which provider(s) a request must carry a token from. First match
//! wins; a request no rule matches needs a token from any provider.

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
        path_ok && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
    }
}

/// The first rule matching `method` and `path` (`:path` with or without a query),
/// or `fallback` (every provider, no missing token allowed).
pub fn applicable<'a>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    path: &str,
) -> Applicable<'a> {
    let path = path.split_once('?').map_or(path, |(before, _)| before);
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
