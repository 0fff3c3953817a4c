//! The `decision` target's input format: the pieces tables a request is drawn
//! from, and `RequestSpec`, which any bytes read as (`RequestSpec::read`) and
//! which writes the bytes of a request back (`RequestSpec::write`, for the seed
//! corpus). `decision/case.rs` builds the request a spec describes.

pub(crate) const METHODS: [&str; 12] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "post", "Delete", "get", "CONNECT",
    "TRACE",
];

/// What a path is made of (after a leading `/`): rule words plain and escaped,
/// separators in every spelling, dot segments in every spelling, segment
/// parameters, escapes of unreserved characters and of others, the pieces of
/// `%%32e` (an escape that decoding forms), and rule words in other cases.
pub(crate) const PATH_PIECES: [&str; 78] = [
    "/",
    "/",
    "/",
    "/",
    "//",
    "healthz",
    "public",
    "docs",
    "orders",
    "export",
    "admin",
    "beta",
    "1",
    "x",
    "..",
    ".",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2E.",
    ";",
    ";x",
    ";jsessionid=1",
    "%3B",
    "%3bx",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "\\",
    "%61",
    "%64",
    "%6F",
    "%70",
    "%68",
    "%65",
    "%6f%72ders",
    "p%75blic",
    "%68ealthz",
    "%64ocs",
    "%7E",
    "%2D",
    "%5F",
    "%30",
    "%41",
    "%",
    "%25",
    "%32",
    "%33",
    "%35",
    "e",
    "E",
    "f",
    "F",
    "b",
    "c",
    "%20",
    "%zz",
    "%0",
    "~",
    "-",
    "_",
    "\u{e9}",
    "%C3%A9",
    "#",
    "%00",
    "%3F",
    "..;",
    "%2e%2e%3B",
    "/..",
    "/.",
    "ADMIN",
    "Orders",
    "EXPORT",
    "Healthz",
    "PUBLIC",
    "Docs",
];

/// Request header names: token sources, output headers in several spellings, and
/// names that only look like them. One past the end: a name from the input.
pub(crate) const HEADER_NAMES: [&str; 32] = [
    "authorization",
    "Authorization",
    "x-token",
    "X-Token",
    "x_token",
    "x-partner-token",
    "cookie",
    "Cookie",
    "x-jwt-payload",
    "X-Jwt-Payload",
    "x_jwt_payload",
    "X_JWT_PAYLOAD",
    "x_user",
    "x-user",
    "X-User",
    "X_USER",
    "x-issued-at",
    "x_issued_at",
    "X-Issued_At",
    "x-partner-payload",
    "x_partner_payload",
    "x-audgate-would-reject",
    "X_Audgate_Would_Reject",
    "x-audgate_would-reject",
    "x-tenant",
    "x_tenant",
    "x-users",
    "xuser",
    "x-jwt-payload-",
    "origin",
    "access-control-request-method",
    "content-type",
];

/// Header values that are no token.
pub(crate) const LITERALS: [&str; 8] = [
    "forged",
    "",
    "1",
    "alice",
    "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "GET",
    "https://x",
    "x-user",
];

/// What comes before a token in a header value.
pub(crate) const SCHEMES: [&str; 7] = [
    "Bearer ",
    "bearer\t",
    "BEARER ",
    "Bearer  ",
    "Bearer",
    "Basic ",
    "Bearer\u{a0}",
];

/// The schemes `value_prefix: "Bearer "` is met by (docs: ASCII case ignored, any
/// white space after the scheme).
pub(crate) const BEARER_SCHEMES: [usize; 5] = [0, 1, 2, 3, 6];

pub(crate) const QUERY_NAMES: [&str; 10] = [
    "access_token",
    "access%5Ftoken",
    "%61ccess_token",
    "access%5ftoken",
    "ACCESS_TOKEN",
    "access_token%00",
    "a",
    "x",
    "session",
    "access_token ",
];

pub(crate) const COOKIE_NAMES: [&str; 10] = [
    "session",
    "s%65ssion",
    "%73ession",
    "SESSION",
    "session ",
    "partner",
    "p%61rtner",
    "a",
    "x_user",
    "sess%69on",
];

/// A token in a request: a valid seed token or a forged one, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// `fixtures/valid_tokens.txt`, in order.
    Valid(u8),
    /// `DecisionFixture::forged`, in order.
    Forged(u8),
}

/// The value of a query parameter or a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// `=<token>`.
    Token(Tok),
    /// `=<token>` with its dots as `%2E`.
    Dotted(Tok),
    /// `="<token>"`.
    Quoted(Tok),
    /// `=1`.
    One,
    /// The name alone.
    Bare,
    /// `=`.
    Empty,
    /// `=<bytes of the input>`.
    Free(Vec<u8>),
}

/// One cookie of a `cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePair {
    /// Index into `COOKIE_NAMES`.
    pub name: usize,
    /// Its value.
    pub value: Slot,
    /// Joined to the one before by `;` rather than `; `.
    pub tight: bool,
}

/// One query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPair {
    /// Index into `QUERY_NAMES`.
    pub name: usize,
    /// Its value.
    pub value: Slot,
    /// Joined to the one before by `;` rather than `&`.
    pub semicolon: bool,
}

/// A header's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderName {
    /// Index into `HEADER_NAMES`.
    Listed(usize),
    /// Bytes of the input.
    Free(Vec<u8>),
}

/// A header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Index into `LITERALS`.
    Literal(usize),
    /// `SCHEMES[scheme]` then the token.
    Scheme(usize, Tok),
    /// The token alone.
    Raw(Tok),
    /// A cookie header's pairs.
    Cookies(Vec<CookiePair>),
    /// Bytes of the input.
    Free(Vec<u8>),
}

/// A request as the input describes it; `RequestSpec::read` reads any bytes as
/// one, `RequestSpec::write` gives the bytes of one (for the seed corpus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Header names sent as they are, not lowercased as the host glue does.
    pub keep_case: bool,
    /// Index into `METHODS`.
    pub method: usize,
    /// Indices into `PATH_PIECES`, after a leading `/`.
    pub path: Vec<usize>,
    /// The query; none when empty.
    pub query: Vec<QueryPair>,
    /// The headers, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The input bytes, read one at a time; past the end, zeros.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let byte = self.data.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        byte
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn text(&mut self) -> Vec<u8> {
        let len = self.below(24);
        (0..len).map(|_| self.byte()).collect()
    }

    fn token(&mut self, valid: usize, forged: usize) -> Tok {
        let byte = self.byte();
        let index = usize::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            Tok::Valid((index % valid) as u8)
        } else {
            Tok::Forged((index % forged) as u8)
        }
    }

    /// A slot's kind byte's high bit is the separator flag of its pair.
    fn slot(&mut self, valid: usize, forged: usize) -> (Slot, bool) {
        let kind = self.byte();
        let slot = match (kind & 0x7f) % 7 {
            0 => Slot::Token(self.token(valid, forged)),
            1 => Slot::Dotted(self.token(valid, forged)),
            2 => Slot::Quoted(self.token(valid, forged)),
            3 => Slot::One,
            4 => Slot::Bare,
            5 => Slot::Empty,
            _ => Slot::Free(self.text()),
        };
        (slot, kind & 0x80 != 0)
    }
}

fn write_token(out: &mut Vec<u8>, tok: Tok) {
    out.push(match tok {
        Tok::Valid(index) => index & 0x7f,
        Tok::Forged(index) => 0x80 | (index & 0x7f),
    });
}

fn write_text(out: &mut Vec<u8>, bytes: &[u8]) {
    assert!(bytes.len() < 24, "free text is at most 23 bytes");
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn write_slot(out: &mut Vec<u8>, slot: &Slot, flag: bool) {
    let high = if flag { 0x80 } else { 0 };
    match slot {
        Slot::Token(t) | Slot::Dotted(t) | Slot::Quoted(t) => {
            let kind = match slot {
                Slot::Token(_) => 0,
                Slot::Dotted(_) => 1,
                _ => 2,
            };
            out.push(high | kind);
            write_token(out, *t);
        }
        Slot::One => out.push(high | 3),
        Slot::Bare => out.push(high | 4),
        Slot::Empty => out.push(high | 5),
        Slot::Free(bytes) => {
            out.push(high | 6);
            write_text(out, bytes);
        }
    }
}

/// The index of `item` in `table` (seeds name pieces by their text).
pub fn index_of(table: &[&str], item: &str) -> usize {
    table
        .iter()
        .position(|entry| *entry == item)
        .unwrap_or_else(|| panic!("{item:?} is not in the table"))
}

impl RequestSpec {
    /// Any bytes as a request (`valid`/`forged`: how many tokens of each kind).
    pub(crate) fn read(data: &[u8], valid: usize, forged: usize) -> RequestSpec {
        let mut r = Reader { data, at: 0 };
        let keep_case = r.byte() & 1 != 0;
        let method = r.below(METHODS.len());
        let pieces = r.below(32);
        let path = (0..pieces).map(|_| r.below(PATH_PIECES.len())).collect();
        let pairs = r.below(8);
        let query = (0..pairs)
            .map(|_| {
                let name = r.below(QUERY_NAMES.len());
                let (value, semicolon) = r.slot(valid, forged);
                QueryPair {
                    name,
                    value,
                    semicolon,
                }
            })
            .collect();
        let count = r.below(12);
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let name = match r.below(HEADER_NAMES.len() + 1) {
                listed if listed < HEADER_NAMES.len() => HeaderName::Listed(listed),
                _ => HeaderName::Free(r.text()),
            };
            let value = match r.below(5) {
                0 => HeaderValue::Literal(r.below(LITERALS.len())),
                1 => {
                    let scheme = r.below(SCHEMES.len());
                    HeaderValue::Scheme(scheme, r.token(valid, forged))
                }
                2 => HeaderValue::Raw(r.token(valid, forged)),
                3 => {
                    let count = 1 + r.below(4);
                    HeaderValue::Cookies(
                        (0..count)
                            .map(|_| {
                                let name = r.below(COOKIE_NAMES.len());
                                let (value, tight) = r.slot(valid, forged);
                                CookiePair { name, value, tight }
                            })
                            .collect(),
                    )
                }
                _ => HeaderValue::Free(r.text()),
            };
            headers.push((name, value));
        }
        RequestSpec {
            keep_case,
            method,
            path,
            query,
            headers,
        }
    }

    /// The bytes `read` reads back as this request.
    pub fn write(&self) -> Vec<u8> {
        let mut out = vec![u8::from(self.keep_case), self.method as u8];
        out.push(self.path.len() as u8);
        out.extend(self.path.iter().map(|&piece| piece as u8));
        out.push(self.query.len() as u8);
        for pair in &self.query {
            out.push(pair.name as u8);
            write_slot(&mut out, &pair.value, pair.semicolon);
        }
        out.push(self.headers.len() as u8);
        for (name, value) in &self.headers {
            match name {
                HeaderName::Listed(index) => out.push(*index as u8),
                HeaderName::Free(bytes) => {
                    out.push(HEADER_NAMES.len() as u8);
                    write_text(&mut out, bytes);
                }
            }
            match value {
                HeaderValue::Literal(index) => out.extend([0, *index as u8]),
                HeaderValue::Scheme(scheme, tok) => {
                    out.extend([1, *scheme as u8]);
                    write_token(&mut out, *tok);
                }
                HeaderValue::Raw(tok) => {
                    out.push(2);
                    write_token(&mut out, *tok);
                }
                HeaderValue::Cookies(pairs) => {
                    assert!((1..=4).contains(&pairs.len()), "1 to 4 cookies");
                    out.extend([3, (pairs.len() - 1) as u8]);
                    for pair in pairs {
                        out.push(pair.name as u8);
                        write_slot(&mut out, &pair.value, pair.tight);
                    }
                }
                HeaderValue::Free(bytes) => {
                    out.push(4);
                    write_text(&mut out, bytes);
                }
            }
        }
        out
    }
}
