//! The request a `RequestSpec` describes, built under the decision fixture, with
//! what the oracles need to know of it: which valid tokens it holds, and where a
//! forged token sits plainly in a provider's source.

use super::super::input::{
    HeaderName, HeaderValue, RequestSpec, Slot, Tok, BEARER_SCHEMES, COOKIE_NAMES, HEADER_NAMES,
    LITERALS, METHODS, PATH_PIECES, QUERY_NAMES, SCHEMES,
};
use super::super::oracle::path::decode_all;
use super::DecisionFixture;

/// A request built from a spec, with what the oracles need to know about it.
pub(super) struct Case {
    pub(super) method: &'static str,
    /// `:path`, with the query.
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    /// `headers` as bytes, free names and values as the input gave them (not
    /// read as lossy UTF-8), for the fast path's check.
    pub(super) raw_headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `present[i]`: valid token `i` appears somewhere in the request (its path,
    /// percent-decoded or not, or a header value), wherever it sits.
    pub(super) present: Vec<bool>,
    /// `forged_in[p]`: a forged token sits plainly in one of provider `p`'s
    /// sources (the source's exact header name with its prefix, its parameter,
    /// its cookie in the `cookie` header).
    pub(super) forged_in: Vec<bool>,
}

impl DecisionFixture {
    fn token(&self, tok: Tok) -> &str {
        match tok {
            Tok::Valid(i) => &self.valid[usize::from(i) % self.valid.len()],
            Tok::Forged(i) => &self.forged[usize::from(i) % self.forged.len()],
        }
    }

    fn slot(&self, out: &mut String, slot: &Slot) {
        match slot {
            Slot::Token(t) => {
                out.push('=');
                out.push_str(self.token(*t));
            }
            Slot::Dotted(t) => {
                out.push('=');
                out.push_str(&self.token(*t).replace('.', "%2E"));
            }
            Slot::Quoted(t) => {
                out.push_str("=\"");
                out.push_str(self.token(*t));
                out.push('"');
            }
            Slot::One => out.push_str("=1"),
            Slot::Bare => {}
            Slot::Empty => out.push('='),
            Slot::Free(bytes) => {
                out.push('=');
                out.push_str(&String::from_utf8_lossy(bytes));
            }
        }
    }

    /// Whether `slot` holds a forged token as such (`=<token>`, or `%2E` dots
    /// where the value is percent-decoded).
    fn forged_slot(slot: &Slot, decoded: bool) -> bool {
        match slot {
            Slot::Token(Tok::Forged(_)) => true,
            Slot::Dotted(Tok::Forged(_)) => decoded,
            _ => false,
        }
    }

    /// The request `spec` describes, lowercased header names unless `keep_case`
    /// (the host glue lowercases them: src/filter/host.rs).
    pub(super) fn build(&self, spec: &RequestSpec) -> Case {
        let mut path = String::from("/");
        for &piece in &spec.path {
            path.push_str(PATH_PIECES[piece % PATH_PIECES.len()]);
        }
        let mut forged_in = vec![false; self.providers.len()];
        for (k, pair) in spec.query.iter().enumerate() {
            path.push(match (k, pair.semicolon) {
                (0, _) => '?',
                (_, true) => ';',
                (_, false) => '&',
            });
            let name = QUERY_NAMES[pair.name % QUERY_NAMES.len()];
            path.push_str(name);
            self.slot(&mut path, &pair.value);
            for (p, provider) in self.providers.iter().enumerate() {
                if provider.params.iter().any(|n| n == name) && Self::forged_slot(&pair.value, true)
                {
                    forged_in[p] = true;
                }
            }
        }
        let mut headers = Vec::with_capacity(spec.headers.len());
        let mut raw_headers = Vec::with_capacity(spec.headers.len());
        for (name, value) in &spec.headers {
            let raw_name = match name {
                HeaderName::Listed(i) => HEADER_NAMES[i % HEADER_NAMES.len()].as_bytes().to_vec(),
                HeaderName::Free(bytes) => bytes.clone(),
            };
            let raw_name = if spec.keep_case {
                raw_name
            } else {
                raw_name.to_ascii_lowercase()
            };
            let name = String::from_utf8_lossy(&raw_name).into_owned();
            let mut text = String::new();
            match value {
                HeaderValue::Literal(i) => text.push_str(LITERALS[i % LITERALS.len()]),
                HeaderValue::Scheme(scheme, tok) => {
                    let scheme = scheme % SCHEMES.len();
                    text.push_str(SCHEMES[scheme]);
                    text.push_str(self.token(*tok));
                    for (p, provider) in self.providers.iter().enumerate() {
                        let source = provider.headers.iter().any(|(source, prefix)| {
                            *source == name && prefix.eq_ignore_ascii_case("bearer ")
                        });
                        if source
                            && BEARER_SCHEMES.contains(&scheme)
                            && matches!(tok, Tok::Forged(_))
                        {
                            forged_in[p] = true;
                        }
                    }
                }
                HeaderValue::Raw(tok) => {
                    text.push_str(self.token(*tok));
                    for (p, provider) in self.providers.iter().enumerate() {
                        let source = provider
                            .headers
                            .iter()
                            .any(|(source, prefix)| *source == name && prefix.is_empty());
                        if source && matches!(tok, Tok::Forged(_)) {
                            forged_in[p] = true;
                        }
                    }
                }
                HeaderValue::Cookies(pairs) => {
                    for (k, pair) in pairs.iter().enumerate() {
                        if k > 0 {
                            text.push_str(if pair.tight { ";" } else { "; " });
                        }
                        let cookie = COOKIE_NAMES[pair.name % COOKIE_NAMES.len()];
                        text.push_str(cookie);
                        self.slot(&mut text, &pair.value);
                        for (p, provider) in self.providers.iter().enumerate() {
                            if name == "cookie"
                                && provider.cookies.iter().any(|c| c == cookie)
                                && Self::forged_slot(&pair.value, false)
                            {
                                forged_in[p] = true;
                            }
                        }
                    }
                }
                HeaderValue::Free(bytes) => text.push_str(&String::from_utf8_lossy(bytes)),
            }
            let raw_value = match value {
                HeaderValue::Free(bytes) => bytes.clone(),
                _ => text.clone().into_bytes(),
            };
            raw_headers.push((raw_name, raw_value));
            headers.push((name, text));
        }
        let decoded = decode_all(&path);
        let present = self
            .valid
            .iter()
            .map(|token| {
                path.contains(token.as_str())
                    || decoded.contains(token.as_str())
                    || headers.iter().any(|(_, v)| v.contains(token.as_str()))
            })
            .collect();
        Case {
            method: METHODS[spec.method % METHODS.len()],
            path,
            headers,
            raw_headers,
            present,
            forged_in,
        }
    }
}
