//! The decision target's seed requests, each named by what it tries, and its
//! libFuzzer dictionary: `cargo run --example fuzz_seeds` writes them to
//! `corpus/decision/seed-*` and `dict/decision.dict`.

use super::super::input::{
    index_of, CookiePair, HeaderName, HeaderValue, QueryPair, RequestSpec, Slot, Tok, COOKIE_NAMES,
    HEADER_NAMES, METHODS, PATH_PIECES, QUERY_NAMES,
};
use super::decision_fixture;

fn pieces(path: &[&str]) -> Vec<usize> {
    path.iter()
        .map(|piece| index_of(&PATH_PIECES, piece))
        .collect()
}

fn listed(name: &str) -> HeaderName {
    HeaderName::Listed(index_of(&HEADER_NAMES, name))
}

fn spec(method: &str, path: &[&str]) -> RequestSpec {
    RequestSpec {
        keep_case: false,
        method: index_of(&METHODS, method),
        path: pieces(path),
        query: Vec::new(),
        headers: Vec::new(),
    }
}

impl RequestSpec {
    fn header(mut self, name: &str, value: HeaderValue) -> RequestSpec {
        self.headers.push((listed(name), value));
        self
    }

    fn param(mut self, name: &str, value: Slot, semicolon: bool) -> RequestSpec {
        self.query.push(QueryPair {
            name: index_of(&QUERY_NAMES, name),
            value,
            semicolon,
        });
        self
    }
}

fn bearer(tok: Tok) -> HeaderValue {
    HeaderValue::Scheme(0, tok)
}

fn cookies(pairs: &[(&str, Slot)]) -> HeaderValue {
    HeaderValue::Cookies(
        pairs
            .iter()
            .map(|(name, value)| CookiePair {
                name: index_of(&COOKIE_NAMES, name),
                value: value.clone(),
                tight: false,
            })
            .collect(),
    )
}

/// The decision target's seed requests, by name (`decision_seeds` writes them).
pub fn decision_seed_specs() -> Vec<(String, RequestSpec)> {
    let fx = decision_fixture();
    let corp = Tok::Valid(0);
    let both = Tok::Valid(
        fx.vouches
            .iter()
            .position(|v| v[1])
            .expect("a valid token for partner") as u8,
    );
    let corp_only = Tok::Valid(
        fx.vouches
            .iter()
            .position(|v| !v[1])
            .expect("a valid token for corp alone") as u8,
    );
    let forged = |i: u8| Tok::Forged(i);
    let forged_outputs = |spec: RequestSpec| {
        [
            "x_user",
            "X-User",
            "x-user",
            "X_JWT_PAYLOAD",
            "x-jwt-payload",
            "x_issued_at",
            "x_partner_payload",
            "X_Audgate_Would_Reject",
            "x-tenant",
        ]
        .iter()
        .fold(spec, |spec, name| {
            spec.header(name, HeaderValue::Literal(0))
        })
    };
    let mut keep_case =
        forged_outputs(spec("GET", &["orders", "/", "1"]).header("Authorization", bearer(corp)))
            .header("authorization", bearer(corp));
    keep_case.keep_case = true;
    let seeds = vec![
        ("empty", RequestSpec::read(&[], 1, 1)),
        ("healthz", spec("GET", &["healthz"])),
        (
            "healthz-trailing-dot",
            spec("GET", &["healthz", "/", "%2e"]),
        ),
        ("public", spec("GET", &["public", "/", "x"])),
        (
            "public-dotdot",
            spec("GET", &["public", "/", "..", "/", "admin"]),
        ),
        (
            "healthz-dotdot-semicolon",
            spec("GET", &["healthz", "/", "..;", "/", "admin"]),
        ),
        (
            "healthz-encoded-dotdot-semicolon",
            spec("GET", &["healthz", "/", "%2e%2e%3B", "/", "orders"]),
        ),
        (
            "public-encoded-slash",
            spec("GET", &["public", "%2F", "..", "%2F", "admin"]),
        ),
        (
            "public-backslash",
            spec("GET", &["public", "\\", "..", "\\", "orders"]),
        ),
        ("public-semicolon", spec("GET", &["public", ";x", "/", "x"])),
        (
            "escaped-unreserved",
            spec("GET", &["%6f%72ders", "/", "export"]).header("authorization", bearer(corp)),
        ),
        ("escaped-public", spec("GET", &["p%75blic", "/", "x"])),
        ("merged-slashes", spec("GET", &["//", "healthz"])),
        ("docs-missing", spec("GET", &["docs", "/", "x"])),
        (
            "docs-forged",
            spec("GET", &["docs"]).header("authorization", bearer(forged(2))),
        ),
        ("docs-semicolon", spec("GET", &["docs", ";x"])),
        (
            "beta-partner-cookie",
            spec("GET", &["beta"]).header("cookie", cookies(&[("partner", Slot::Token(both))])),
        ),
        (
            "orders-bearer",
            spec("GET", &["orders", "/", "1"]).header("authorization", bearer(corp)),
        ),
        (
            "orders-bearer-tab",
            spec("GET", &["orders"]).header("authorization", HeaderValue::Scheme(1, corp)),
        ),
        (
            "orders-x-token",
            spec("PUT", &["orders"]).header("x-token", HeaderValue::Raw(corp)),
        ),
        (
            "orders-post-partner",
            spec("POST", &["orders", "/", "1"]).header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "orders-post-corp-only",
            spec("post", &["orders", "/", "1"]).header("authorization", bearer(corp)),
        ),
        (
            "orders-export-all",
            spec("GET", &["orders", "/", "export"])
                .header("authorization", bearer(both))
                .header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "orders-export-params",
            spec("GET", &["orders", ";x", "/", "export", ";jsessionid=1"])
                .header("authorization", bearer(both))
                .header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            // `/orders/export/` to Tomcat, `/orders/export` to audgate: either is
            // accepted (fuzz/README.md, decision)
            "param-emptied-last-segment",
            spec("DELETE", &["orders", "\\", "export", "/", ";jsessionid=1"])
                .header("authorization", HeaderValue::Scheme(1, corp))
                .header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "admin-delete",
            spec("DELETE", &["admin"]).header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "query-token",
            spec("GET", &["orders"]).param("a", Slot::One, false).param(
                "access_token",
                Slot::Dotted(corp),
                false,
            ),
        ),
        (
            "query-semicolon",
            spec("GET", &["orders"]).param("a", Slot::One, false).param(
                "access%5Ftoken",
                Slot::Token(corp),
                true,
            ),
        ),
        (
            "query-forged",
            spec("GET", &["docs"]).param("access_token", Slot::Token(forged(4)), false),
        ),
        (
            "cookie-encoded-name",
            spec("GET", &["orders"]).header(
                "cookie",
                cookies(&[("a", Slot::One), ("s%65ssion", Slot::Token(corp))]),
            ),
        ),
        (
            "cookie-quoted",
            spec("GET", &["orders"]).header("cookie", cookies(&[("session", Slot::Quoted(corp))])),
        ),
        (
            "cookie-forged",
            spec("GET", &["beta"])
                .header("cookie", cookies(&[("session", Slot::Token(forged(5)))])),
        ),
        (
            "two-tokens",
            spec("GET", &["orders"])
                .header("authorization", bearer(corp))
                .header("x-token", HeaderValue::Raw(both)),
        ),
        (
            "outputs-forged-pass",
            forged_outputs(spec("GET", &["orders"]).header("authorization", bearer(corp))),
        ),
        (
            "outputs-forged-refused",
            forged_outputs(spec("GET", &["admin"])),
        ),
        (
            "outputs-forged-none",
            forged_outputs(spec("GET", &["public"])),
        ),
        ("keep-case", keep_case),
        // Issue 21: spellings a lenient upstream serves as the protected path.
        (
            "export-other-case-corp-only",
            spec("GET", &["Orders", "/", "EXPORT"]).header("authorization", bearer(corp_only)),
        ),
        (
            "export-trailing-slash-corp-only",
            spec("GET", &["orders", "/", "export", "/"]).header("authorization", bearer(corp_only)),
        ),
        (
            "export-encoded-slash-corp-only",
            spec("GET", &["orders", "%2F", "export"]).header("authorization", bearer(corp_only)),
        ),
        (
            "orders-delete-other-case-corp-only",
            spec("DELETE", &["Orders", "/", "1"]).header("authorization", bearer(corp_only)),
        ),
        (
            "admin-head-partner",
            spec("HEAD", &["ADMIN", "/", "x"]).header("x-partner-token", HeaderValue::Raw(both)),
        ),
        ("healthz-other-case", spec("GET", &["Healthz"])),
        ("docs-other-case", spec("GET", &["Docs", "/", "x"])),
        (
            "public-double-slash-admin-other-case",
            spec("GET", &["PUBLIC", "//", "..", "//", "ADMIN"]),
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, spec)| (name.to_owned(), spec))
        .collect()
}

/// The decision target's seed corpus, by name.
pub fn decision_seeds() -> Vec<(String, Vec<u8>)> {
    decision_seed_specs()
        .into_iter()
        .map(|(name, spec)| (name, spec.write()))
        .collect()
}

/// The decision target's libFuzzer dictionary: runs of path pieces (as the
/// bytes that pick them) that make traversal tricks, and header names.
pub fn decision_dictionary() -> Vec<(String, Vec<u8>)> {
    let runs: [&[&str]; 16] = [
        &["/", ".."],
        &["/", "..;"],
        &["/", "%2e%2e"],
        &["/", ".%2e"],
        &["%2F", "..", "%2F"],
        &["%5C", "..", "%5C"],
        &["\\", "..", "\\"],
        &["%", "%32", "e"],
        &["%", "%32", "f"],
        &["%", "%33", "b"],
        &["/", "healthz"],
        &["/", "public"],
        &["/", "docs"],
        &["/", "orders", "/", "export"],
        &["/", "admin"],
        &["/", "beta"],
    ];
    let mut out: Vec<(String, Vec<u8>)> = runs
        .iter()
        .map(|run| {
            let name: String = run
                .concat()
                .chars()
                .map(|c| match c {
                    '/' => "_sl".to_owned(),
                    '\\' => "_bs".to_owned(),
                    '%' => "_pct".to_owned(),
                    ';' => "_semi".to_owned(),
                    '.' => "_dot".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            (
                format!("path{name}"),
                pieces(run).iter().map(|&i| i as u8).collect(),
            )
        })
        .collect();
    for (i, name) in HEADER_NAMES.iter().enumerate() {
        let name = name.replace(['-', '_'], "").to_ascii_lowercase();
        out.push((format!("header_{name}_{i}"), vec![i as u8]));
    }
    out
}
