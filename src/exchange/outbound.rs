//! What the exchange does with one outbound request, before any callout: which
//! destination it goes to, which token it carries, and so whether that token is
//! exchanged, removed, refused or (only with `unmatched: forward`) passed on.
//! Pure: the inbound decision, when there is one, arrives as an [`Inbound`].

use crate::exchange::destination::destination_for;
use crate::exchange::settings::{Exchange, Unmatched};
use crate::rejection::Rejection;
use crate::request::{same_header_name, Request};
use crate::token::token68::is_token68;

/// What the exchange reads of a request: its `:authority`, its `:path` and its
/// headers (lowercase names), from the full [`Request`] or a borrowed view of
/// the host's header map ([`BorrowedRequest`]).
pub trait OutboundView {
    /// `:authority`.
    fn authority(&self) -> &str;
    /// `:path`, with its query.
    fn path(&self) -> &str;
    /// Every header, in order, repeats kept.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;
}

impl OutboundView for Request<'_> {
    fn authority(&self) -> &str {
        self.authority
    }

    fn path(&self) -> &str {
        self.path
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// A request over borrowed header pairs (the host's map, UTF-8, lowercase
/// names): what the exchange's fast path reads without copying the headers.
pub struct BorrowedRequest<'a> {
    /// The first `:authority`, else empty (as [`Request::from_headers`] reads it).
    pub authority: &'a str,
    /// The first `:path`, else empty.
    pub path: &'a str,
    /// Every header, in order.
    pub headers: Vec<(&'a str, &'a str)>,
}

impl<'a> BorrowedRequest<'a> {
    /// The view over `headers`.
    pub fn new(headers: Vec<(&'a str, &'a str)>) -> BorrowedRequest<'a> {
        let pseudo = |wanted: &str| {
            headers
                .iter()
                .find(|(name, _)| *name == wanted)
                .map_or("", |(_, value)| *value)
        };
        BorrowedRequest {
            authority: pseudo(":authority"),
            path: pseudo(":path"),
            headers,
        }
    }
}

impl OutboundView for BorrowedRequest<'_> {
    fn authority(&self) -> &str {
        self.authority
    }

    fn path(&self) -> &str {
        self.path
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().copied()
    }
}

/// The DPoP proof header: it goes wherever its token goes.
pub use crate::token::dpop::proof::DPOP_HEADER;

/// What the inbound decision left for the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound<'t> {
    /// No inbound decision (a sidecar's outbound plugin): the token is read,
    /// unverified, from `exchange.from_headers`.
    Unverified,
    /// The inbound decision passed with this verified token.
    Verified(&'t str),
    /// The inbound decision passed without a verified token (`requires: none`,
    /// `allow_missing` with no token): no token goes on.
    NoToken,
    /// Audit mode would have refused it: it goes on without any token.
    WouldReject,
}

/// What happens to the outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'r> {
    /// It goes on after these headers are removed (perhaps none).
    Go {
        /// Headers removed: the token's and the DPoP proof's.
        remove: Vec<String>,
    },
    /// Its token is exchanged for one minted for the destination; these
    /// headers are removed and `authorization: Bearer <new>` set.
    Exchange {
        /// The subject token (never logged), as the request or the inbound
        /// decision holds it.
        subject: &'r str,
        /// Headers removed before the new token is set.
        remove: Vec<String>,
    },
    /// It is refused (`exchange_unmatched`, `exchange_missing`).
    Refuse(Rejection),
}

/// The outbound request's destination and step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound<'r> {
    /// Index of the destination it goes to; `None`: no entry matches.
    pub destination: Option<usize>,
    /// What happens to it.
    pub step: Step<'r>,
    /// A token was on its way to an unmatched destination (the `unmatched` stat).
    pub unmatched: bool,
}

/// The token an outbound request carries, as the exchange sees it.
enum Carried<'t> {
    /// None at all.
    Nothing,
    /// One the exchange can send to the token service.
    Token(&'t str),
    /// A credential it cannot exchange: another scheme (`DPoP`, `Basic`), a
    /// repeated header, an empty or non-token68 value.
    Unexchangeable,
}

/// The step for `request`, routed to `cluster`, under `exchange`.
pub fn outbound<'r, R: OutboundView>(
    exchange: &Exchange,
    request: &'r R,
    cluster: Option<&str>,
    inbound: Inbound<'r>,
) -> Outbound<'r> {
    let destination = destination_for(
        &exchange.destinations,
        request.authority(),
        cluster,
        request.path(),
    );
    let index = destination.map(|(index, _)| index);
    let requires_token = destination.is_some_and(|(_, entry)| entry.requires_token);
    let carried = match inbound {
        Inbound::Unverified => carried(exchange, request),
        Inbound::Verified(token) => Carried::Token(token),
        Inbound::NoToken | Inbound::WouldReject => Carried::Nothing,
    };
    let remove = || token_headers(exchange, request);
    let go = |remove: Vec<String>| Step::Go { remove };
    let (step, unmatched) = match (destination, carried) {
        // No token goes on: any the request carried is removed.
        (_, Carried::Nothing) if inbound == Inbound::WouldReject => (go(remove()), false),
        (_, Carried::Nothing) if requires_token => {
            (Step::Refuse(Rejection::ExchangeMissing), false)
        }
        (_, Carried::Nothing) if inbound == Inbound::NoToken => (go(remove()), false),
        (_, Carried::Nothing) => (go(Vec::new()), false),
        (Some(_), Carried::Token(token)) => (
            Step::Exchange {
                subject: token,
                remove: remove(),
            },
            false,
        ),
        (None, Carried::Token(_)) | (_, Carried::Unexchangeable) => {
            let step = match exchange.unmatched {
                // Removed, it leaves the request without a token: a destination
                // that requires one refuses it as it refuses a request with none.
                Unmatched::Remove if requires_token => Step::Refuse(Rejection::ExchangeMissing),
                Unmatched::Remove => go(remove()),
                Unmatched::Refuse => Step::Refuse(Rejection::ExchangeUnmatched),
                Unmatched::Forward => go(Vec::new()),
            };
            (step, true)
        }
    };
    Outbound {
        destination: index,
        step,
        unmatched,
    }
}

/// The token in `exchange.from_headers` (first source that has one), or what
/// else sits there or in `authorization`.
fn carried<'r, R: OutboundView>(exchange: &Exchange, request: &'r R) -> Carried<'r> {
    let mut seen_other = false;
    for source in &exchange.from_headers {
        let mut values = request
            .pairs()
            .filter(|(name, _)| *name == source.name)
            .map(|(_, value)| value);
        let Some(value) = values.next() else {
            continue;
        };
        if values.next().is_some() {
            return Carried::Unexchangeable;
        }
        let token = value
            .get(..source.value_prefix.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(&source.value_prefix))
            .and_then(|_| value.get(source.value_prefix.len()..))
            .map(str::trim);
        match token {
            Some(token) if is_token68(token) => return Carried::Token(token),
            _ => seen_other = true,
        }
    }
    // A credential under another spelling of a token header (`x_api_token`,
    // read as `x-api-token` by CGI-style servers) is one too.
    let is_read = |name: &str| {
        exchange
            .from_headers
            .iter()
            .any(|source| source.name == name)
    };
    let other_spelling = request.pairs().any(|(name, _)| {
        !is_read(name)
            && (same_header_name(name, "authorization")
                || exchange
                    .from_headers
                    .iter()
                    .any(|source| same_header_name(name, &source.name)))
    });
    if seen_other || other_spelling {
        Carried::Unexchangeable
    } else {
        Carried::Nothing
    }
}

/// Every header of `request` that holds an outbound credential: the
/// `from_headers`, `authorization` and the DPoP proof, in any spelling a
/// server may read as one of them (case, `_` for `-`).
fn token_headers(exchange: &Exchange, request: &impl OutboundView) -> Vec<String> {
    let credential = |name: &str| {
        ["authorization", DPOP_HEADER]
            .iter()
            .any(|wanted| same_header_name(name, wanted))
            || exchange
                .from_headers
                .iter()
                .any(|source| same_header_name(name, &source.name))
    };
    let mut remove: Vec<String> = Vec::new();
    for (name, _) in request.pairs() {
        let credential = credential(name);
        if credential && !name.starts_with(':') && !remove.iter().any(|known| known == name) {
            remove.push(name.to_owned());
        }
    }
    remove
}

#[cfg(test)]
#[path = "outbound_tests.rs"]
mod tests;
