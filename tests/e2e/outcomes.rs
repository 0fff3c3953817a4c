//! Every outcome row of the contract through real Envoy with the built module:
//! the token table's statuses and challenges, the token stripped on success, a
//! body that never echoes the token, and an upstream that sees no rejected request;
//! then the table again in audit mode, where each row's reason reaches the upstream
//! as `x-audgate-would-reject`.

use crate::support::cases::{self, Case};
use crate::support::{http, Envoy, Upstream};

fn send(envoy: &Envoy, case: &Case) -> http::Response {
    let bearer = case.token.as_ref().map(|token| format!("Bearer {token}"));
    let mut headers = vec![("host", "orders.test")];
    if let Some(value) = &bearer {
        headers.push(("authorization", value));
    }
    http::get(envoy.port(), "/orders/1?x=1", &headers)
}

#[test]
fn every_row_of_the_table_through_envoy() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&cases::config(), upstream.port());
    let mut wrong = Vec::new();
    for case in cases::cases() {
        let response = send(&envoy, &case);
        let seen = upstream.take();
        if response.status != case.status {
            wrong.push(format!(
                "{}: got {} ({}), want {}",
                case.name,
                response.status,
                response.body.trim(),
                case.status
            ));
            continue;
        }
        if case.status == 200 {
            assert_eq!(
                seen.len(),
                1,
                "{}: upstream saw {} requests",
                case.name,
                seen.len()
            );
            assert_eq!(seen[0].path, "/orders/1?x=1", "{}", case.name);
            assert_eq!(
                seen[0].header("authorization"),
                None,
                "{}: token not stripped",
                case.name
            );
            continue;
        }
        assert!(
            seen.is_empty(),
            "{}: a rejected request reached the upstream",
            case.name
        );
        let challenge = response
            .header("www-authenticate")
            .unwrap_or_default()
            .to_owned();
        match case.error {
            Some("") => assert_eq!(challenge, "Bearer realm=\"orders.test\"", "{}", case.name),
            Some(error) => {
                assert!(
                    challenge.starts_with("Bearer realm=\"orders.test\""),
                    "{}: {challenge}",
                    case.name
                );
                assert!(
                    challenge.contains(&format!("error=\"{error}\"")),
                    "{}: {challenge}",
                    case.name
                );
                if case.status == 403 {
                    assert!(
                        challenge.contains("error_description=\"audience not allowed\""),
                        "{}",
                        case.name
                    );
                }
            }
            None => unreachable!("rejections name their challenge"),
        }
        assert!(
            !response.body.trim().is_empty(),
            "{}: empty body",
            case.name
        );
        assert!(response.body.len() < 200, "{}: body too long", case.name);
        if let Some(token) = &case.token {
            for part in token.split('.').filter(|part| part.len() > 8) {
                assert!(
                    !response.body.contains(part),
                    "{}: body echoes the token",
                    case.name
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rows answered wrongly:\n{}",
        wrong.join("\n")
    );
    assert!(
        envoy.wait_for_log("audgate: rejected", std::time::Duration::from_secs(5)),
        "rejections are logged"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = envoy.log();
    for case in cases::cases() {
        if let Some(token) = case.token.filter(|t| t.len() > 40) {
            let signature = token.rsplit('.').next().unwrap_or_default();
            if signature.len() > 16 {
                assert!(
                    !log.contains(signature),
                    "{}: the log holds a signature",
                    case.name
                );
            }
        }
    }
}

#[test]
fn every_row_of_the_table_is_refused_for_its_reason_through_envoy() {
    let mut config = cases::config();
    config["mode"] = serde_json::json!("audit");
    let upstream = Upstream::start();
    let envoy = Envoy::start(&config, upstream.port());
    let mut wrong = Vec::new();
    for case in cases::cases() {
        let response = send(&envoy, &case);
        let seen = upstream.take();
        assert_eq!(response.status, 200, "{}: {}", case.name, response.body);
        assert_eq!(
            seen.len(),
            1,
            "{}: upstream saw {} requests",
            case.name,
            seen.len()
        );
        let reasons = seen[0].headers_named("x-audgate-would-reject");
        if reasons != Vec::from_iter(case.reason) {
            wrong.push(format!(
                "{}: got {reasons:?}, want {:?}",
                case.name, case.reason
            ));
        }
        assert_eq!(
            seen[0].header("authorization"),
            None,
            "{}: token not removed",
            case.name
        );
    }
    assert!(
        wrong.is_empty(),
        "rows refused for another reason:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn forward_keeps_the_token_for_the_upstream() {
    let mut config = cases::config();
    config["providers"][0]["forward"] = serde_json::json!(true);
    let upstream = Upstream::start();
    let envoy = Envoy::start(&config, upstream.port());
    let token = cases::cases().into_iter().next().unwrap().token.unwrap();
    let bearer = format!("Bearer {token}");
    let response = http::get(envoy.port(), "/", &[("authorization", &bearer)]);
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream.take();
    assert_eq!(seen[0].header("authorization"), Some(bearer.as_str()));
}

#[test]
fn two_authorization_headers_are_refused() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&cases::config(), upstream.port());
    let token = cases::cases().into_iter().next().unwrap().token.unwrap();
    let bearer = format!("Bearer {token}");
    let response = http::get(
        envoy.port(),
        "/",
        &[("authorization", &bearer), ("authorization", &bearer)],
    );
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(upstream.count(), 0);
}

#[test]
fn lowercase_bearer_prefix_is_accepted() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&cases::config(), upstream.port());
    let token = cases::cases().into_iter().next().unwrap().token.unwrap();
    let response = http::get(
        envoy.port(),
        "/",
        &[("authorization", &format!("bearer {token}"))],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(upstream.count(), 1);
}
