//! Route rules: which provider(s) a request must carry a token from. First match
//! wins; a request no rule matches needs a token from any provider.

pub use crate::policy::requirement::{Demand, Requirement};
use crate::policy::template::{PathTemplate, Spelling};
use crate::request::path::ResolvedPath;

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
    /// Whether the rule needs a verified token (anything but `none`, no
    /// `allow_missing`): such a rule matches every spelling of a path that a
    /// lenient upstream serves as the same resource.
    fn is_protected(&self) -> bool {
        !self.allow_missing && self.requires != Requirement::None
    }

    /// Whether `method` is one of the rule's; for a protected rule `GET` also
    /// covers `HEAD`, which frameworks answer with the `GET` handler.
    fn covers_method(&self, method: &str, protected: bool) -> bool {
        let named = |wanted: &str| self.methods.iter().any(|m| m.eq_ignore_ascii_case(wanted));
        self.methods.is_empty()
            || named(method)
            || (protected && method.eq_ignore_ascii_case("HEAD") && named("GET"))
    }

    /// The template captures when the rule matches `reading` (one reading of a
    /// path that is `ambiguous` or not), else `None`. A protected rule matches
    /// leniently ([`Spelling::Lenient`]); the others match an unambiguous path
    /// exactly.
    fn matches<'a, 'p>(
        &'a self,
        method: &str,
        reading: &'p str,
        ambiguous: bool,
    ) -> Option<Vec<(&'a str, &'p str)>> {
        let protected = self.is_protected();
        if ambiguous && !protected {
            return None;
        }
        if !self.covers_method(method, protected) {
            return None;
        }
        let spelling = if protected {
            Spelling::Lenient
        } else {
            Spelling::Exact
        };
        self.path.captures(reading, spelling)
    }
}

impl PathMatch {
    /// The template captures when `path` matches in `spelling`, else `None`.
    fn captures<'a, 'p>(
        &'a self,
        path: &'p str,
        spelling: Spelling,
    ) -> Option<Vec<(&'a str, &'p str)>> {
        let lenient = spelling == Spelling::Lenient;
        let matched = match self {
            PathMatch::Template(template) => return template.captures(path, spelling),
            PathMatch::Prefix(prefix) if lenient => {
                starts_with_ignoring_case(path, prefix)
                    || (prefix.ends_with('/') && same_ignoring_case_and_slash(path, prefix))
            }
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatch::Exact(exact) if lenient => same_ignoring_case_and_slash(path, exact),
            PathMatch::Exact(exact) => path == exact,
        };
        matched.then(Vec::new)
    }
}

/// Whether `text` starts with `prefix`, ASCII case ignored.
fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether two paths are the same, ASCII case and a trailing `/` ignored.
fn same_ignoring_case_and_slash(a: &str, b: &str) -> bool {
    trim_trailing_slash(a).eq_ignore_ascii_case(trim_trailing_slash(b))
}

/// `path` without its trailing `/`s; the root stays `/`.
fn trim_trailing_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The first rule matching `method` and `path`, or `fallback` (every provider, no
/// missing token allowed). Rules see the path as the upstream will resolve it
/// ([`ResolvedPath::matched`]), so `/%61dmin`, `//x/../admin` or `/x/..;/admin`
/// meet the rule for `/admin`. A rule that needs a token also meets `/ADMIN`,
/// `/admin/` and `HEAD` for `GET`; a rule that lets a request through without a
/// token meets only the exact spelling, and never an ambiguous path. A spelling a
/// lenient upstream serves as a protected resource never falls through to a
/// weaker rule.
pub fn applicable<'a, 'p>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    path: &'p ResolvedPath<'_>,
) -> Applicable<'a, 'p> {
    applicable_to(rules, fallback, method, &path.matched, path.ambiguous)
}

/// What each reading of `path` demands: [`applicable`] for the reading the
/// upstream gets, and, for a path whose `%2F`, `%5C` or `\` may also stay inside
/// a segment ([`ResolvedPath::unsplit`]), the rule that reading picks when it is
/// another rule or captures other values (a template's `{name}` sees `ac%2Fme`
/// as one segment). A request must meet both: an ambiguous path never gets a
/// weaker rule than either of its readings.
pub fn applicable_per_reading<'a, 'p>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    path: &'p ResolvedPath<'_>,
) -> (Applicable<'a, 'p>, Option<Applicable<'a, 'p>>) {
    let upstream = applicable(rules, fallback, method, path);
    let unsplit = path
        .unsplit
        .as_deref()
        .map(|reading| applicable_to(rules, fallback, method, reading, path.ambiguous))
        .filter(|other| {
            !std::ptr::eq(other.requires, upstream.requires) || other.captures != upstream.captures
        });
    (upstream, unsplit)
}

/// The first rule matching `method` and `reading`, or `fallback`.
fn applicable_to<'a, 'p>(
    rules: &'a [Rule],
    fallback: &'a Requirement,
    method: &str,
    reading: &'p str,
    ambiguous: bool,
) -> Applicable<'a, 'p> {
    rules
        .iter()
        .find_map(|rule| {
            let captures = rule.matches(method, reading, ambiguous)?;
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
    use crate::request::path::resolve;

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

    /// The docs' tenant and admin examples: rules as the red team met them.
    fn tenant_and_admin_rules() -> Vec<Rule> {
        let template = PathTemplate::compile("/tenants/{tenant}/orders/**").unwrap();
        let strict = PathTemplate::compile("/t2/{tenant}/orders").unwrap();
        vec![
            rule(PathMatch::Exact("/healthz".into()), &[], Requirement::None),
            rule(
                PathMatch::Template(template),
                &[],
                Requirement::Provider(Demand::of(1)),
            ),
            rule(
                PathMatch::Template(strict),
                &[],
                Requirement::Provider(Demand::of(1)),
            ),
            rule(
                PathMatch::Prefix("/admin".into()),
                &["GET"],
                Requirement::Provider(Demand::of(2)),
            ),
            rule(
                PathMatch::Exact("/export".into()),
                &[],
                Requirement::Provider(Demand::of(2)),
            ),
            rule(
                PathMatch::Prefix("/tenants/".into()),
                &[],
                Requirement::None,
            ),
            rule(
                PathMatch::Prefix("/".into()),
                &[],
                Requirement::Provider(Demand::of(0)),
            ),
        ]
    }

    #[test]
    fn protected_rules_match_every_spelling_a_lenient_upstream_serves() {
        let rules = tenant_and_admin_rules();
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        for (method, path, provider, captured) in [
            ("GET", "/TENANTS/globex/orders", 1, Some("globex")),
            ("GET", "/Tenants/globex/orders/1", 1, Some("globex")),
            ("GET", "/%54enants/globex/orders", 1, Some("globex")),
            ("GET", "/t2/globex/orders/", 1, Some("globex")),
            ("GET", "/T2//globex//ORDERS//", 1, Some("globex")),
            ("GET", "/tenants/acme%2Forders/1", 1, Some("acme")),
            ("GET", "/ADMIN/users", 2, None),
            ("GET", "/%41dmin/users", 2, None),
            ("HEAD", "/admin/users", 2, None),
            ("head", "/Admin", 2, None),
            ("GET", "/export/", 2, None),
            ("GET", "/EXPORT", 2, None),
            ("POST", "/admin/users", 0, None),
        ] {
            let resolved = resolve(path);
            let found = applicable(&rules, &fallback, method, &resolved);
            assert_eq!(
                found.requires,
                &Requirement::Provider(Demand::of(provider)),
                "{method} {path}"
            );
            let tenant = found.captures.first().map(|(_, value)| *value);
            assert_eq!(tenant, captured, "{method} {path}");
        }
    }

    #[test]
    fn rules_that_need_no_token_match_only_the_exact_spelling() {
        let mut rules = tenant_and_admin_rules();
        let mut open = rule(
            PathMatch::Prefix("/docs".into()),
            &["GET"],
            Requirement::Provider(Demand::of(1)),
        );
        open.allow_missing = true;
        rules.insert(0, open);
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        for (method, path, open) in [
            ("GET", "/healthz", true),
            ("GET", "/HEALTHZ", false),
            ("GET", "/healthz/", false),
            ("GET", "/tenants/x", true),
            ("GET", "/Tenants/x", false),
            ("GET", "/docs/a", true),
            ("GET", "/DOCS/a", false),
            ("HEAD", "/docs/a", false),
        ] {
            let resolved = resolve(path);
            let found = applicable(&rules, &fallback, method, &resolved);
            let lets_through = found.allow_missing || found.requires == &Requirement::None;
            assert_eq!(lets_through, open, "{method} {path}");
        }
    }

    #[test]
    fn a_prefix_ending_in_a_slash_also_meets_the_path_without_it() {
        let rules = vec![rule(
            PathMatch::Prefix("/admin/".into()),
            &[],
            Requirement::Provider(Demand::of(1)),
        )];
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        for (path, admin) in [
            ("/admin", true),
            ("/ADMIN/", true),
            ("/admin/x", true),
            ("/administrator", false),
        ] {
            let resolved = resolve(path);
            let found = applicable(&rules, &fallback, "GET", &resolved);
            let want = if admin { 1 } else { 0 };
            let is = found.requires == &Requirement::Provider(Demand::of(want))
                || (!admin && found.requires == &fallback);
            assert!(is, "{path}: {:?}", found.requires);
        }
    }

    #[test]
    fn each_reading_of_an_encoded_slash_demands_its_rule() {
        let rules = tenant_and_admin_rules();
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        let provider = |found: &Applicable<'_, '_>| match found.requires {
            Requirement::Provider(demand) => demand.provider,
            other => panic!("{other:?}"),
        };
        for (path, upstream, unsplit) in [
            ("/tenants/ac%2Fme/orders/1", (0, None), Some((1, "ac%2Fme"))),
            ("/tenants/ac%2fme/orders/1", (0, None), Some((1, "ac%2Fme"))),
            ("/tenants/ac\\me/orders/1", (0, None), Some((1, "ac%5Cme"))),
            // Both readings pick the template, with other values.
            (
                "/tenants/x%2F..%2Facme/orders",
                (1, Some("acme")),
                Some((1, "x%2F..%2Facme")),
            ),
            // Both readings pick the same rule with the same values: one demand.
            ("/tenants/acme/orders/a%2Fb", (1, Some("acme")), None),
            // The unsplit reading must not open a weaker rule: `/admin` needs its
            // own audience whichever reading the upstream takes.
            ("/admin%2F..%2Fexport", (2, None), Some((2, ""))),
        ] {
            let resolved = resolve(path);
            let (first, second) = applicable_per_reading(&rules, &fallback, "GET", &resolved);
            assert_eq!(provider(&first), upstream.0, "{path}");
            assert_eq!(
                first.captures.first().map(|(_, v)| *v),
                upstream.1,
                "{path}"
            );
            let second = second.map(|found| {
                let value = found.captures.first().map_or("", |(_, v)| *v);
                (provider(&found), value)
            });
            assert_eq!(second, unsplit, "{path}");
        }
    }
}
