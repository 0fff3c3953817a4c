//! Local keys through real Envoy: the `algorithms` allow list and HMAC keys,
//! `local_jwks` as a string holding the JSON, and which keys of a set a token is
//! checked against: a `kid`-less one against at most two that fit its `alg`, a
//! key whose `key_ops` lacks `verify` or an HMAC secret shorter than its hash
//! never, two keys under one `kid` both. (Remote key sets: key_sets, remote_jwks,
//! rotation.)

use crate::support::keys::{self, Signer, TestKey};
use crate::support::providers::{bearer, claims, corp, corp_token, AUD, CORP};
use crate::support::Rig;
use serde_json::json;

#[test]
fn algorithms_allow_list_and_hmac_keys() {
    let ec = json!({"name": "ec", "issuer": CORP, "audiences": [AUD], "algorithms": ["ES256"],
        "local_jwks": keys::jwks(&[TestKey::Rsa1, TestKey::Ec256])});
    let rig = Rig::new(&json!({"providers": [ec]}));
    let rs = bearer(&keys::sign_default(TestKey::Rsa1, claims(CORP, json!({}))));
    let es = bearer(&keys::sign_default(TestKey::Ec256, claims(CORP, json!({}))));
    assert_eq!(rig.status("GET", "/", &[("authorization", &rs)]), 401);
    assert_eq!(rig.status("GET", "/", &[("authorization", &es)]), 200);

    let secret = b"a-shared-secret-of-at-least-32-bytes!";
    let hs = json!({"name": "hs", "issuer": CORP, "audiences": [AUD], "algorithms": ["HS256"],
        "local_jwks": {"keys": [{"kty": "oct", "kid": "s1", "k": keys::b64(secret)}]}});
    let rig = Rig::new(&json!({"providers": [hs]}));
    let good = keys::sign_raw(
        json!({"alg": "HS256", "kid": "s1"}),
        claims(CORP, json!({})),
        Signer::Hmac("HS256", secret),
    );
    let wrong = keys::sign_raw(
        json!({"alg": "HS256", "kid": "s1"}),
        claims(CORP, json!({})),
        Signer::Hmac("HS256", b"another-secret-another-secret-xx"),
    );
    assert_eq!(
        rig.status("GET", "/", &[("authorization", &bearer(&good))]),
        200
    );
    assert_eq!(
        rig.status("GET", "/", &[("authorization", &bearer(&wrong))]),
        401
    );
}

#[test]
fn local_jwks_may_be_a_string_holding_the_json() {
    let mut provider = corp(json!({}));
    provider["local_jwks"] = json!(keys::jwks(&[TestKey::Rsa1]).to_string());
    let rig = Rig::new(&json!({ "providers": [provider] }));
    let token = bearer(&corp_token(json!({})));
    assert_eq!(rig.status("GET", "/", &[("authorization", &token)]), 200);
    let other = bearer(&keys::sign_default(TestKey::Rsa2, claims(CORP, json!({}))));
    assert_eq!(rig.status("GET", "/", &[("authorization", &other)]), 401);
}

/// Hardening round 2, finding 3: a `kid`-less token is tried against at most
/// two keys that fit its `alg`, so a forgery cannot make the filter run every
/// RSA key's check.
#[test]
fn a_kid_less_token_is_tried_against_at_most_two_keys() {
    let set = keys::jwks(&[TestKey::Rsa1, TestKey::Rsa2, TestKey::Demo]);
    let rig = Rig::new(&json!({"providers": [corp(json!({"local_jwks": set}))]}));
    let kid_less = |key| keys::sign("RS256", key, json!({"kid": null}), claims(CORP, json!({})));
    for (key, want) in [
        (TestKey::Rsa1, 200),
        (TestKey::Rsa2, 200),
        (TestKey::Demo, 401),
    ] {
        let (status, _) = rig.send("GET", "/", &[("authorization", &bearer(&kid_less(key)))]);
        assert_eq!(status, want, "kid-less token of {key:?}");
    }
    // With its kid, the third key's token is fine.
    let named = keys::sign("RS256", TestKey::Demo, json!({}), claims(CORP, json!({})));
    assert_eq!(
        rig.send("GET", "/", &[("authorization", &bearer(&named))])
            .0,
        200
    );
    let burn = keys::sign_raw(
        json!({"alg": "PS512"}),
        claims(CORP, json!({})),
        Signer::Literal(&keys::b64(&[0x5a; 256])),
    );
    assert_eq!(
        rig.send("GET", "/", &[("authorization", &bearer(&burn))]).0,
        401
    );
}

/// Hardening round 2, finding 8: a JWK whose `key_ops` lacks `verify` and an
/// HMAC secret shorter than its hash are not used; two keys under one `kid` are
/// both tried.
#[test]
fn peers_vectors_key_ops_short_secrets_and_shared_kids() {
    let mut sign_only = keys::jwk(TestKey::Rsa1);
    sign_only["key_ops"] = json!(["sign"]);
    let short = b"sixteen byte key";
    let long = [9u8; 32];
    let set = json!({"keys": [
        sign_only,
        keys::jwk(TestKey::Ec256),
        {"kty": "oct", "kid": "short", "k": keys::b64(short)},
        {"kty": "oct", "kid": "long", "k": keys::b64(&long)},
    ]});
    let algorithms = json!(["RS256", "ES256", "HS256"]);
    let rig = Rig::new(
        &json!({"providers": [corp(json!({"local_jwks": set, "algorithms": algorithms}))]}),
    );
    let hmac = |kid: &str, secret: &[u8]| {
        keys::sign_raw(
            json!({"alg": "HS256", "kid": kid}),
            claims(CORP, json!({})),
            Signer::Hmac("HS256", secret),
        )
    };
    for (what, token, want) in [
        ("key_ops [sign]", corp_token(json!({})), 401),
        (
            "EC key",
            keys::sign_default(TestKey::Ec256, claims(CORP, json!({}))),
            200,
        ),
        ("16-byte HS256 secret", hmac("short", short), 401),
        ("32-byte HS256 secret", hmac("long", &long), 200),
    ] {
        assert_eq!(
            rig.send("GET", "/", &[("authorization", &bearer(&token))])
                .0,
            want,
            "{what}"
        );
    }

    let mut first = keys::jwk(TestKey::Rsa1);
    first["kid"] = json!("shared");
    let mut second = keys::jwk(TestKey::Rsa2);
    second["kid"] = json!("shared");
    let rig =
        Rig::new(&json!({"providers": [corp(json!({"local_jwks": {"keys": [first, second]}}))]}));
    for key in [TestKey::Rsa1, TestKey::Rsa2] {
        let token = keys::sign(
            "RS256",
            key,
            json!({"kid": "shared"}),
            claims(CORP, json!({})),
        );
        assert_eq!(
            rig.send("GET", "/", &[("authorization", &bearer(&token))])
                .0,
            200,
            "{key:?}"
        );
    }
}
