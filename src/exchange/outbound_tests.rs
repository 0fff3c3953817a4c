//! Every row of the contract's outbound table, and the token never left behind.

use std::time::Duration;

use super::*;
use crate::exchange::destination::{host_name, Destination, Matcher};
use crate::exchange::grant::ClientAuth;
use crate::token::extract::HeaderSource;

fn settings(unmatched: Unmatched) -> Exchange {
    let hosts =
        |names: &[&str]| Matcher::Hosts(names.iter().filter_map(|n| host_name(n)).collect());
    Exchange {
        endpoint: crate::oauth::endpoint::Endpoint {
            uri: "https://sts/token".into(),
            authority: "sts".into(),
            path: "/token".into(),
            cluster: "sts".into(),
            timeout: Duration::from_secs(2),
        },
        client: ClientAuth::None,
        subject_token_type: crate::exchange::grant::ACCESS_TOKEN_TYPE.into(),
        from_headers: vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        }],
        destinations: vec![
            Destination {
                matcher: hosts(&["payments"]),
                prefix: "/".into(),
                audience: Some("payments".into()),
                resource: None,
                scope: None,
                requires_token: false,
            },
            Destination {
                matcher: hosts(&["ledger"]),
                prefix: "/".into(),
                audience: Some("ledger".into()),
                resource: None,
                scope: None,
                requires_token: true,
            },
        ],
        unmatched,
        cache_size: 10,
    }
}

fn headers(authority: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":path".to_owned(), "/pay".to_owned()),
        (":authority".to_owned(), authority.to_owned()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

/// The step for a request built here; its headers live as long as the test
/// process (a step borrows the token from them).
fn step(
    unmatched: Unmatched,
    authority: &str,
    extra: &[(&str, &str)],
    inbound: Inbound<'static>,
) -> Outbound<'static> {
    let headers: &'static [(String, String)] =
        Box::leak(headers(authority, extra).into_boxed_slice());
    let request: &'static Request<'static> = Box::leak(Box::new(Request::from_headers(headers)));
    outbound(&settings(unmatched), request, None, inbound)
}

const BEARER: (&str, &str) = ("authorization", "Bearer abc.def.ghi");

#[test]
fn a_token_to_a_listed_destination_is_exchanged_and_every_copy_removed() {
    let found = step(
        Unmatched::Remove,
        "payments:8080",
        &[
            BEARER,
            ("dpop", "proof"),
            ("Authorization_", "x"),
            ("x_authorization", "y"),
        ],
        Inbound::Unverified,
    );
    assert_eq!(found.destination, Some(0));
    assert!(!found.unmatched);
    assert_eq!(
        found.step,
        Step::Exchange {
            subject: "abc.def.ghi",
            remove: vec!["authorization".into(), "dpop".into()],
        }
    );
}

#[test]
fn the_scheme_is_matched_ignoring_case() {
    let found = step(
        Unmatched::Remove,
        "payments",
        &[("authorization", "bearer t0k")],
        Inbound::Unverified,
    );
    assert!(matches!(found.step, Step::Exchange { subject, .. } if subject == "t0k"));
}

#[test]
fn unmatched_removes_refuses_or_forwards_as_configured() {
    for (unmatched, wanted) in [
        (
            Unmatched::Remove,
            Step::Go {
                remove: vec!["authorization".into()],
            },
        ),
        (
            Unmatched::Refuse,
            Step::Refuse(Rejection::ExchangeUnmatched),
        ),
        (Unmatched::Forward, Step::Go { remove: vec![] }),
    ] {
        let found = step(
            unmatched,
            "elsewhere.example",
            &[BEARER],
            Inbound::Unverified,
        );
        assert_eq!(found.destination, None);
        assert!(found.unmatched);
        assert_eq!(found.step, wanted, "{unmatched:?}");
    }
}

#[test]
fn a_credential_it_cannot_exchange_counts_as_unmatched_even_to_a_listed_destination() {
    for value in [
        "DPoP abc",
        "Basic dXNlcjpwdw==",
        "Bearer ",
        "Bearer a b",
        "Bearer ünï",
    ] {
        let found = step(
            Unmatched::Remove,
            "payments",
            &[("authorization", value), ("dpop", "p")],
            Inbound::Unverified,
        );
        assert!(found.unmatched, "{value}");
        assert_eq!(
            found.step,
            Step::Go {
                remove: vec!["authorization".into(), "dpop".into()]
            },
            "{value}"
        );
        let refused = step(
            Unmatched::Refuse,
            "payments",
            &[("authorization", value)],
            Inbound::Unverified,
        );
        assert_eq!(
            refused.step,
            Step::Refuse(Rejection::ExchangeUnmatched),
            "{value}"
        );
    }
    let twice = step(
        Unmatched::Remove,
        "payments",
        &[BEARER, BEARER],
        Inbound::Unverified,
    );
    assert!(twice.unmatched);
    assert_eq!(
        twice.step,
        Step::Go {
            remove: vec!["authorization".into()]
        }
    );
}

#[test]
fn no_token_goes_on_as_it_is_unless_the_destination_requires_one() {
    let found = step(Unmatched::Refuse, "payments", &[], Inbound::Unverified);
    assert_eq!(found.step, Step::Go { remove: vec![] });
    assert!(!found.unmatched);
    let found = step(
        Unmatched::Refuse,
        "elsewhere",
        &[("x-other", "1")],
        Inbound::Unverified,
    );
    assert_eq!(found.step, Step::Go { remove: vec![] });
    let required = step(Unmatched::Remove, "ledger", &[], Inbound::Unverified);
    assert_eq!(required.step, Step::Refuse(Rejection::ExchangeMissing));
}

#[test]
fn at_a_gateway_the_verified_token_is_exchanged_whatever_the_headers_say() {
    let found = step(
        Unmatched::Forward,
        "payments",
        &[("authorization", "DPoP x")],
        Inbound::Verified("verified.tok.en"),
    );
    assert_eq!(
        found.step,
        Step::Exchange {
            subject: "verified.tok.en",
            remove: vec!["authorization".into()]
        }
    );
}

#[test]
fn at_a_gateway_a_request_passed_without_a_token_sends_none_on() {
    let found = step(
        Unmatched::Forward,
        "payments",
        &[BEARER, ("dpop", "p")],
        Inbound::NoToken,
    );
    assert_eq!(
        found.step,
        Step::Go {
            remove: vec!["authorization".into(), "dpop".into()]
        }
    );
    assert!(!found.unmatched);
    let required = step(Unmatched::Forward, "ledger", &[BEARER], Inbound::NoToken);
    assert_eq!(required.step, Step::Refuse(Rejection::ExchangeMissing));
}

#[test]
fn a_would_be_refusal_in_audit_mode_goes_on_without_any_token_and_is_never_exchanged() {
    for authority in ["payments", "ledger", "elsewhere"] {
        let found = step(
            Unmatched::Forward,
            authority,
            &[BEARER],
            Inbound::WouldReject,
        );
        assert_eq!(
            found.step,
            Step::Go {
                remove: vec!["authorization".into()]
            },
            "{authority}"
        );
    }
}

#[test]
fn custom_token_headers_are_read_and_removed_in_every_spelling() {
    let mut exchange = settings(Unmatched::Remove);
    exchange.from_headers = vec![HeaderSource {
        name: "x-api-token".into(),
        value_prefix: String::new(),
    }];
    let headers = headers(
        "payments",
        &[
            ("x-api-token", "tok"),
            ("x_api_token", "forged"),
            ("authorization", "Basic x"),
        ],
    );
    let request = Request::from_headers(&headers);
    let found = outbound(&exchange, &request, None, Inbound::Unverified);
    assert_eq!(
        found.step,
        Step::Exchange {
            subject: "tok",
            remove: vec![
                "x-api-token".into(),
                "x_api_token".into(),
                "authorization".into()
            ],
        }
    );
}

#[test]
fn clusters_pick_the_destination_at_a_gateway() {
    let mut exchange = settings(Unmatched::Remove);
    exchange.destinations[0].matcher = Matcher::Clusters(vec!["payments_backend".into()]);
    let headers = headers("gateway.example", &[BEARER]);
    let request = Request::from_headers(&headers);
    let routed = outbound(
        &exchange,
        &request,
        Some("payments_backend"),
        Inbound::Verified("t"),
    );
    assert_eq!(routed.destination, Some(0));
    let other = outbound(&exchange, &request, Some("other"), Inbound::Verified("t"));
    assert_eq!(other.destination, None);
    assert!(other.unmatched);
}

#[test]
fn a_token_under_another_spelling_of_its_header_is_never_passed_on() {
    let mut exchange = settings(Unmatched::Remove);
    exchange.from_headers = vec![HeaderSource {
        name: "x-api-token".into(),
        value_prefix: String::new(),
    }];
    let headers = headers("payments", &[("x_api_token", "tok")]);
    let request = Request::from_headers(&headers);
    let found = outbound(&exchange, &request, None, Inbound::Unverified);
    assert!(found.unmatched);
    assert_eq!(
        found.step,
        Step::Go {
            remove: vec!["x_api_token".into()]
        }
    );
}

#[test]
fn a_removed_credential_leaves_a_requires_token_destination_without_one() {
    let found = step(
        Unmatched::Remove,
        "ledger",
        &[("authorization", "DPoP abc")],
        Inbound::Unverified,
    );
    assert!(found.unmatched);
    assert_eq!(found.step, Step::Refuse(Rejection::ExchangeMissing));
    let forwarded = step(
        Unmatched::Forward,
        "ledger",
        &[("authorization", "DPoP abc")],
        Inbound::Unverified,
    );
    assert_eq!(forwarded.step, Step::Go { remove: vec![] });
}
