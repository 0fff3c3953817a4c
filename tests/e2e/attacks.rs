//! Known JWT attacks, each through real Envoy: every one is refused, none reaches
//! the upstream, and nothing a token names (`jku`, `x5u`) is ever fetched.
//! (Token-for-another-audience replay across two workloads: istio_workloads.)

use crate::support::cases::{self, claims};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, sign_raw, sign_text, Signer, TestKey};
use crate::support::providers::bearer;
use crate::support::Rig;
use serde_json::{json, Value};

/// The status for `token`, asserting the upstream never saw it.
fn refused(rig: &Rig, name: &str, token: &str) -> u16 {
    let (status, seen) = rig.send("GET", "/", &[("authorization", &bearer(token))]);
    assert!(seen.is_none(), "{name}: reached the upstream");
    assert!([401, 403].contains(&status), "{name}: {status}");
    status
}

fn good() -> Value {
    claims(json!({}))
}

#[test]
fn alg_none_in_every_spelling() {
    let rig = Rig::new(&cases::config());
    for alg in ["none", "None", "NONE", "nOnE", "none ", ""] {
        let unsigned = sign_raw(json!({"alg": alg, "typ": "JWT"}), good(), Signer::Unsigned);
        assert_eq!(refused(&rig, alg, &unsigned), 401);
        let with_kid = sign_raw(
            json!({"alg": alg, "kid": "rsa-1"}),
            good(),
            Signer::Literal("AAAA"),
        );
        assert_eq!(refused(&rig, alg, &with_kid), 401);
    }
}

#[test]
fn algorithm_confusion_with_public_keys_as_hmac_secrets() {
    let rig = Rig::new(&cases::config());
    for (key, kid) in [
        (TestKey::Rsa1, "rsa-1"),
        (TestKey::Ec256, "ec256-1"),
        (TestKey::Ed, "ed-1"),
    ] {
        for secret in [key.public_pem(), key.public_der()] {
            for alg in ["HS256", "HS384", "HS512"] {
                let token = sign_raw(
                    json!({"alg": alg, "kid": kid}),
                    good(),
                    Signer::Hmac(alg, secret),
                );
                assert_eq!(refused(&rig, alg, &token), 401);
            }
        }
    }
    // the JWK's own JSON as the secret, and no kid at all
    let jwk = keys::jwk(TestKey::Rsa1).to_string();
    let token = sign_raw(
        json!({"alg": "HS256"}),
        good(),
        Signer::Hmac("HS256", jwk.as_bytes()),
    );
    assert_eq!(refused(&rig, "jwk as secret", &token), 401);
}

#[test]
fn keys_named_by_the_token_are_never_used_or_fetched() {
    let rig = Rig::new(&cases::config());
    let attacker = JwksServer::start(keys::jwks(&[TestKey::Rsa2]));
    let url = format!("http://127.0.0.1:{}/jwks.json", attacker.port());
    let attacker_jwk = keys::jwk(TestKey::Rsa2);
    let headers = [
        json!({"alg": "RS256", "jwk": attacker_jwk}),
        json!({"alg": "RS256", "kid": "rsa-2", "jwk": attacker_jwk}),
        json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker_jwk}),
        json!({"alg": "RS256", "jku": url}),
        json!({"alg": "RS256", "kid": "rsa-2", "jku": url}),
        json!({"alg": "RS256", "x5u": url}),
        json!({"alg": "RS256", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ];
    for header in headers {
        let token = sign_raw(header.clone(), good(), Signer::Key(TestKey::Rsa2, "RS256"));
        assert_eq!(refused(&rig, &header.to_string(), &token), 401);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(attacker.fetches(), 0, "a URL named in a token was fetched");
}

#[test]
fn kid_injection_strings() {
    let rig = Rig::new(&cases::config());
    let long = "k".repeat(8_000);
    for kid in [
        "../../../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "rsa-1' --",
        "rsa-1\u{0}",
        "rsa-1\n[info] forged log line",
        "$(reboot)",
        "*",
        long.as_str(),
    ] {
        let token = sign_raw(
            json!({"alg": "RS256", "kid": kid}),
            good(),
            Signer::Key(TestKey::Rsa1, "RS256"),
        );
        assert_eq!(
            refused(&rig, "kid injection", &token),
            401,
            "{}",
            &kid[..kid.len().min(40)]
        );
    }
    assert!(rig
        .envoy
        .wait_for_log("[signature]", std::time::Duration::from_secs(5)));
    let log = rig.envoy.log();
    assert!(
        !log.contains("\n[info] forged log line"),
        "a kid shaped the log"
    );
    assert!(!log.contains(&long), "a long kid was logged whole");
}

#[test]
fn stripped_truncated_and_tampered_signatures() {
    let rig = Rig::new(&cases::config());
    let token = keys::sign_default(TestKey::Rsa1, good());
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut flipped = keys::b64_decode(signature);
    flipped[10] ^= 1;
    for forged in [
        format!("{message}."),
        message.to_owned(),
        format!("{message}.{}", &signature[..signature.len() / 2]),
        format!("{message}.{}", keys::b64(&flipped)),
        format!("{message}.{signature}="),
        format!("{message}.{signature}.{signature}"),
    ] {
        assert_eq!(refused(&rig, "signature", &forged), 401);
    }
    let es = keys::sign_default(TestKey::Ec256, good());
    let (message, signature) = es.rsplit_once('.').unwrap();
    let raw = keys::b64_decode(signature);
    let mut high_s = raw.clone();
    high_s[32] ^= 0x80;
    assert_eq!(
        refused(
            &rig,
            "ES256 s changed",
            &format!("{message}.{}", keys::b64(&high_s))
        ),
        401
    );
    assert_eq!(
        refused(
            &rig,
            "ES256 short",
            &format!("{message}.{}", keys::b64(&raw[..63]))
        ),
        401
    );
}

#[test]
fn malformed_and_oversized_payloads() {
    let rig = Rig::new(&cases::config());
    let now = keys::now();
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let signer = || Signer::Key(TestKey::Rsa1, "RS256");
    let header = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let iss = cases::ISSUER;
    let aud = cases::AUDIENCE;
    let texts = [
        // {"aud": "payments.svc", ..., "aud": "orders.svc"}
        format!(
            r#"{{"iss":"{iss}","aud":"payments.svc","exp":{},"aud":"{aud}"}}"#,
            now + 600
        ),
        // {"exp": ..., "exp": ...}
        format!(
            r#"{{"iss":"{iss}","aud":"{aud}","exp":1,"exp":{}}}"#,
            now + 600
        ),
        // 200 levels of nesting
        format!(
            r#"{{"iss":"{iss}","aud":"{aud}","exp":{},"x":{deep}}}"#,
            now + 600
        ),
        // not JSON at all
        "not json".to_owned(),
        format!(
            r#"{{"iss":"{iss}","aud":"{aud}","exp":{}}} trailing"#,
            now + 600
        ),
    ];
    for text in &texts {
        assert_eq!(
            refused(&rig, "payload", &sign_text(header, text, signer())),
            401,
            "{}",
            &text[..text.len().min(60)]
        );
    }
    // a header that repeats alg
    let token = sign_text(
        r#"{"alg":"none","alg":"RS256","kid":"rsa-1"}"#,
        &good().to_string(),
        signer(),
    );
    assert_eq!(refused(&rig, "repeated alg", &token), 401);
    let token = sign_raw(
        json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}),
        good(),
        signer(),
    );
    assert_eq!(refused(&rig, "crit", &token), 401);
    let many: Vec<String> = (0..100)
        .map(|n| format!("svc-{n}"))
        .chain([aud.to_owned()])
        .collect();
    let token = keys::sign_default(TestKey::Rsa1, claims(json!({ "aud": many })));
    assert_eq!(refused(&rig, "101 audiences", &token), 403);
    let big = keys::sign_default(TestKey::Rsa1, claims(json!({"pad": "x".repeat(17_000)})));
    assert_eq!(refused(&rig, "over 16 KiB", &big), 401);
}
