//! Where a provider's token is: its headers (with a prefix matched ignoring
//! case), query parameters and cookies. Two different tokens, or a token header
//! sent twice, is an error rather than a guess.

use crate::rejection::Rejection;
use crate::request::{HeaderValues, Request};
use crate::token::TokenError;

/// A header the token may be carried in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSource {
    /// Header name, lowercase.
    pub name: String,
    /// Prefix before the token, matched ignoring ASCII case.
    pub value_prefix: String,
}

/// Every place one provider's token may be: headers, query parameters, cookies.
#[derive(Debug, Clone, Copy)]
pub struct TokenSources<'a> {
    /// Headers the token is looked for in.
    pub from_headers: &'a [HeaderSource],
    /// Query parameters the token is looked for in.
    pub from_params: &'a [String],
    /// Cookies the token is looked for in.
    pub from_cookies: &'a [String],
}

/// Where a token was found, so it can be removed before the request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A request header, by lowercase name.
    Header(String),
    /// A query parameter, by name.
    Param(String),
    /// A cookie, by name.
    Cookie(String),
}

/// A provider's token and every place it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The token text.
    pub token: String,
    /// Where it was (one or more places, all holding the same token).
    pub locations: Vec<Location>,
}

/// Looks for the token in `request`: `Ok(None)` when there is none.
pub fn extract(
    sources: TokenSources<'_>,
    request: &Request<'_>,
) -> Result<Option<Found>, Rejection> {
    extract_from(sources, request.path, request)
}

/// [`extract`] over `path` (`:path`, with its query) and `headers`.
pub fn extract_from(
    sources: TokenSources<'_>,
    path: &str,
    headers: &impl HeaderValues,
) -> Result<Option<Found>, Rejection> {
    let mut found: Option<Found> = None;
    let mut add = |token: String, location: Location| -> Result<(), Rejection> {
        match &mut found {
            None => {
                found = Some(Found {
                    token,
                    locations: vec![location],
                })
            }
            Some(existing) if existing.token == token => existing.locations.push(location),
            Some(_) => return Err(Rejection::MultipleTokens),
        }
        Ok(())
    };

    for source in sources.from_headers {
        let mut values = headers.values(&source.name);
        let Some(value) = values.next() else { continue };
        if values.next().is_some() {
            return Err(Rejection::MultipleTokens);
        }
        if let Some(token) = after_prefix(value, &source.value_prefix) {
            add(checked(token)?, Location::Header(source.name.clone()))?;
        }
    }
    if !sources.from_params.is_empty() {
        let query = path.split_once('?').map_or("", |(_, query)| query);
        for name in sources.from_params {
            let mut values = query_values(query, name);
            let Some(value) = values.next() else { continue };
            if values.next().is_some() {
                return Err(Rejection::MultipleTokens);
            }
            add(
                checked(&percent_decode(value))?,
                Location::Param(name.clone()),
            )?;
        }
    }
    if !sources.from_cookies.is_empty() {
        for name in sources.from_cookies {
            let mut values = headers
                .values("cookie")
                .flat_map(|header| cookie_values(header, name));
            let Some(value) = values.next() else { continue };
            if values.next().is_some() {
                return Err(Rejection::MultipleTokens);
            }
            add(checked(value)?, Location::Cookie(name.clone()))?;
        }
    }
    Ok(found)
}

/// Every place of `sources` for its token that holds something, whether or
/// not the values agree: what a refused request that still goes upstream (audit
/// mode) has removed, as a passed one would.
pub fn token_places(sources: TokenSources<'_>, request: &Request<'_>) -> Vec<Location> {
    token_places_from(sources, request.path, request)
}

/// [`token_places`] over `path` (`:path`, with its query) and `headers`.
pub fn token_places_from(
    sources: TokenSources<'_>,
    path: &str,
    headers: &impl HeaderValues,
) -> Vec<Location> {
    let mut places = Vec::new();
    for source in sources.from_headers {
        let present = headers
            .values(&source.name)
            .any(|value| after_prefix(value, &source.value_prefix).is_some());
        if present {
            places.push(Location::Header(source.name.clone()));
        }
    }
    let query = path.split_once('?').map_or("", |(_, query)| query);
    for name in sources.from_params {
        if query_values(query, name).next().is_some() {
            places.push(Location::Param(name.clone()));
        }
    }
    for name in sources.from_cookies {
        let present = headers
            .values("cookie")
            .any(|header| cookie_values(header, name).next().is_some());
        if present {
            places.push(Location::Cookie(name.clone()));
        }
    }
    places
}

/// The token text after trimming; an empty one is malformed.
fn checked(token: &str) -> Result<String, Rejection> {
    let token = token.trim_matches(char::is_whitespace);
    if token.is_empty() {
        Err(Rejection::Malformed(TokenError::NotThreeParts))
    } else {
        Ok(token.to_owned())
    }
}

/// `value` without `prefix`, compared ignoring ASCII case. A prefix that ends in
/// white space (the scheme of `Bearer `) is met by the scheme followed by any
/// white space, as servers that split the value on white space read it: so
/// `Bearer<TAB>x` is a token, never an unverified credential waved through.
fn after_prefix<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let scheme = prefix.trim_end_matches(char::is_whitespace);
    let head = value.as_bytes().get(..scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme.as_bytes()) {
        return None;
    }
    let rest = value.get(scheme.len()..)?;
    if scheme.len() == prefix.len() || rest.starts_with(char::is_whitespace) {
        Some(rest)
    } else {
        None
    }
}

/// The `key=value` pairs of a query, split on `&` and `;` alike (some servers
/// take either as the separator).
fn query_pairs(query: &str) -> impl Iterator<Item = &str> + '_ {
    query.split(['&', ';'])
}

/// Values of query parameter `name` (raw, still percent-encoded).
fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = &'q str> + 'q {
    query_pairs(query).filter_map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        same_name(key, name).then_some(value)
    })
}

/// Whether a query parameter's or cookie's name, percent-decoded, is `name` (so
/// that `access%5Ftoken` is found and removed as `access_token` is).
fn same_name(key: &str, name: &str) -> bool {
    key == name || (key.contains('%') && percent_decode(key) == name)
}

/// The name and value of one `name=value` cookie pair, trimmed.
fn cookie_pair(pair: &str) -> Option<(&str, &str)> {
    let (key, value) = pair.trim().split_once('=')?;
    Some((key.trim(), value.trim().trim_matches('"')))
}

/// Values of cookie `name` in one `cookie` header.
fn cookie_values<'c>(header: &'c str, name: &'c str) -> impl Iterator<Item = &'c str> + 'c {
    header.split(';').filter_map(move |pair| {
        let (key, value) = cookie_pair(pair)?;
        same_name(key, name).then_some(value)
    })
}

/// Percent-decoding of a query value; `+` stays as is (a JWT holds none).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let decoded = if byte == b'%' {
            bytes
                .get(index.saturating_add(1)..index.saturating_add(3))
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        match decoded {
            Some(decoded) => {
                out.push(decoded);
                index = index.saturating_add(3);
            }
            None => {
                out.push(byte);
                index = index.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` with every parameter named in `names` removed from its query (each
/// kept pair keeps the separator before it).
pub fn path_without_params(path: &str, names: &[&str]) -> String {
    let Some((stem, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let mut kept = String::with_capacity(query.len());
    let mut before = None;
    for piece in query.split_inclusive(['&', ';']) {
        let pair = piece.strip_suffix(['&', ';']).unwrap_or(piece);
        let key = pair.split_once('=').map_or(pair, |(key, _)| key);
        if !names.iter().any(|name| same_name(key, name)) {
            if !kept.is_empty() {
                kept.push(before.unwrap_or('&'));
            }
            kept.push_str(pair);
        }
        before = piece.chars().last().filter(|c| matches!(c, '&' | ';'));
    }
    if kept.is_empty() {
        stem.to_owned()
    } else {
        format!("{stem}?{kept}")
    }
}

/// The `cookie` header rebuilt without the cookies in `names`; `None` if nothing is left.
pub fn cookies_without(headers: &impl HeaderValues, names: &[&str]) -> Option<String> {
    let kept: Vec<&str> = headers
        .values("cookie")
        .flat_map(|header| header.split(';'))
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty() && {
                let key = pair.split_once('=').map_or(*pair, |(key, _)| key).trim();
                !names.iter().any(|name| same_name(key, name))
            }
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider's token places as the config compiles them: the
    /// `authorization` header with `Bearer `, and the given parameters and cookies.
    struct Sources {
        headers: Vec<HeaderSource>,
        params: Vec<String>,
        cookies: Vec<String>,
    }

    impl Sources {
        fn token_sources(&self) -> TokenSources<'_> {
            TokenSources {
                from_headers: &self.headers,
                from_params: &self.params,
                from_cookies: &self.cookies,
            }
        }
    }

    fn provider(params: &[&str], cookies: &[&str]) -> Sources {
        Sources {
            headers: vec![HeaderSource {
                name: "authorization".into(),
                value_prefix: "Bearer ".into(),
            }],
            params: params.iter().map(|p| p.to_string()).collect(),
            cookies: cookies.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn request<'a>(path: &'a str, headers: &'a [(String, String)]) -> Request<'a> {
        Request {
            method: "GET",
            path,
            authority: "svc",
            headers,
        }
    }

    #[test]
    fn bearer_prefix_is_matched_ignoring_case() {
        let p = provider(&[], &[]);
        for value in ["Bearer a.b.c", "bearer a.b.c", "BEARER a.b.c"] {
            let h = headers(&[("authorization", value)]);
            let found = extract(p.token_sources(), &request("/", &h))
                .unwrap()
                .unwrap();
            assert_eq!(found.token, "a.b.c");
            assert_eq!(
                found.locations,
                vec![Location::Header("authorization".into())]
            );
        }
    }

    #[test]
    fn other_schemes_and_absence_are_no_token() {
        let p = provider(&[], &[]);
        let h = headers(&[("authorization", "Basic dXNlcjpwdw==")]);
        assert_eq!(extract(p.token_sources(), &request("/", &h)).unwrap(), None);
        assert_eq!(
            extract(p.token_sources(), &request("/", &[])).unwrap(),
            None
        );
    }

    #[test]
    fn a_repeated_token_header_is_refused() {
        let p = provider(&[], &[]);
        let h = headers(&[
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer a.b.c"),
        ]);
        assert_eq!(
            extract(p.token_sources(), &request("/", &h)),
            Err(Rejection::MultipleTokens)
        );
    }

    #[test]
    fn an_empty_bearer_is_malformed() {
        let p = provider(&[], &[]);
        let h = headers(&[("authorization", "Bearer   ")]);
        assert!(matches!(
            extract(p.token_sources(), &request("/", &h)),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn params_and_cookies_are_found_and_must_agree() {
        let p = provider(&["access_token"], &["session"]);
        let found = extract(
            p.token_sources(),
            &request("/x?a=1&access_token=t%2Eu.v", &[]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(found.token, "t.u.v");
        let h = headers(&[("cookie", "a=1; session=t.u.v")]);
        let found = extract(p.token_sources(), &request("/x?access_token=t.u.v", &h))
            .unwrap()
            .unwrap();
        assert_eq!(found.locations.len(), 2);
        let h = headers(&[("cookie", "session=other.x.y")]);
        assert_eq!(
            extract(p.token_sources(), &request("/x?access_token=t.u.v", &h)),
            Err(Rejection::MultipleTokens)
        );
    }

    #[test]
    fn removing_params_and_cookies() {
        assert_eq!(path_without_params("/x?a=1&t=2&b", &["t"]), "/x?a=1&b");
        assert_eq!(path_without_params("/x?t=2", &["t"]), "/x");
        assert_eq!(path_without_params("/x", &["t"]), "/x");
        let h = headers(&[("cookie", "a=1; s=tok"), ("cookie", "b=2")]);
        assert_eq!(
            cookies_without(&request("/", &h), &["s"]).as_deref(),
            Some("a=1; b=2")
        );
        let h = headers(&[("cookie", "s=tok")]);
        assert_eq!(cookies_without(&request("/", &h), &["s"]), None);
    }

    #[test]
    fn a_scheme_followed_by_any_white_space_is_a_token() {
        let p = provider(&[], &[]);
        for value in ["Bearer\tx.y.z", "Bearer \t x.y.z", "bearer\u{a0}x.y.z"] {
            let h = headers(&[("authorization", value)]);
            let found = extract(p.token_sources(), &request("/", &h))
                .unwrap()
                .unwrap();
            assert_eq!(found.token, "x.y.z", "{value:?}");
        }
        for value in ["Bearerx.y.z", "Bearer"] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(
                extract(p.token_sources(), &request("/", &h)).unwrap(),
                None,
                "{value:?}"
            );
        }
        let h = headers(&[("authorization", "Bearer\t")]);
        assert!(extract(p.token_sources(), &request("/", &h)).is_err());
    }

    #[test]
    fn cookie_names_are_percent_decoded_and_queries_split_on_semicolons() {
        let p = provider(&["tok"], &["sess"]);
        let h = headers(&[("cookie", "a=1; s%65ss=t.u.v")]);
        let found = extract(p.token_sources(), &request("/", &h))
            .unwrap()
            .unwrap();
        assert_eq!(found.locations, vec![Location::Cookie("sess".into())]);
        assert_eq!(
            cookies_without(&request("/", &h), &["sess"]).as_deref(),
            Some("a=1")
        );
        let found = extract(p.token_sources(), &request("/x?a=1;tok=t.u.v", &[]))
            .unwrap()
            .unwrap();
        assert_eq!(found.locations, vec![Location::Param("tok".into())]);
        assert_eq!(
            extract(p.token_sources(), &request("/x?tok=a.b.c;tok=a.b.c", &[])),
            Err(Rejection::MultipleTokens)
        );
        assert_eq!(
            path_without_params("/x?a=1;tok=2&b=3", &["tok"]),
            "/x?a=1&b=3"
        );
        assert_eq!(path_without_params("/x?tok=2;b=3", &["tok"]), "/x?b=3");
        assert_eq!(path_without_params("/x?a;b&c", &["z"]), "/x?a;b&c");
    }

    #[test]
    fn token_places_lists_every_place_even_when_tokens_disagree() {
        let p = provider(&["tok"], &["sess"]);
        let h = headers(&[("authorization", "Bearer a.b.c"), ("cookie", "sess=d.e.f")]);
        assert_eq!(
            token_places(p.token_sources(), &request("/x?tok=g.h.i", &h)),
            vec![
                Location::Header("authorization".into()),
                Location::Param("tok".into()),
                Location::Cookie("sess".into())
            ]
        );
        assert!(token_places(p.token_sources(), &request("/x", &[])).is_empty());
    }
}
