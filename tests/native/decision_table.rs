//! The token table through the pure decision logic, natively: the same outcomes
//! the end-to-end test expects from Envoy, without Envoy, each refusal for the
//! reason its row names.

use crate::support::cases::{self, Case};
use crate::support::decide;
use audgate::config::Config;
use audgate::decision::LocalKeys;
use audgate::keys::verify::RustCrypto;

/// Status, challenge, reason (`Rejection::code`) and the headers removed.
fn decide_case(
    config: &Config,
    case: &Case,
) -> (u16, Option<String>, Option<&'static str>, Vec<String>) {
    let decision = decide::bearer(
        config,
        case.token.as_deref(),
        &LocalKeys(config),
        &RustCrypto,
    );
    match decision.verdict {
        Ok(()) => (200, None, None, decision.mutations.remove_headers),
        Err(rejection) => (
            rejection.status() as u16,
            rejection.www_authenticate(decide::AUTHORITY),
            Some(rejection.code()),
            decision.mutations.remove_headers,
        ),
    }
}

#[test]
fn every_row_of_the_table_decides_as_the_contract_says() {
    let config = Config::from_json(cases::config().to_string().as_bytes()).unwrap();
    let mut wrong = Vec::new();
    for case in cases::cases() {
        let (status, challenge, reason, removed) = decide_case(&config, &case);
        if (status, reason) != (case.status, case.reason) {
            wrong.push(format!(
                "{}: got {status} {reason:?}, want {} {:?}",
                case.name, case.status, case.reason
            ));
            continue;
        }
        match case.error {
            None => {
                assert!(challenge.is_none(), "{}", case.name);
                assert!(
                    removed.contains(&"authorization".to_owned()),
                    "{}: token not removed",
                    case.name
                );
            }
            Some("") => assert_eq!(
                challenge.as_deref(),
                Some("Bearer realm=\"orders.test\""),
                "{}",
                case.name
            ),
            Some(error) => {
                let challenge = challenge.unwrap_or_default();
                assert!(
                    challenge.contains(&format!("error=\"{error}\"")),
                    "{}: {challenge}",
                    case.name
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rows decided wrongly:\n{}",
        wrong.join("\n")
    );
}
