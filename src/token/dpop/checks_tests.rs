//! Each check of a DPoP proof refuses a proof that fails it and nothing else:
//! every test starts from a good proof, signed with a P-256 key, and spoils one
//! thing, so removing that check makes its test fail.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

use super::*;
use crate::keys::verify::RustCrypto;

const NOW: i64 = 1_800_000_000;
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A client's P-256 key: seed 1 is the client, others are someone else.
fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

fn jwk(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    })
}

fn jkt(seed: u8) -> String {
    thumbprint(jwk(&signing_key(seed)).as_object().unwrap()).unwrap()
}

fn good_header() -> Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&signing_key(1))})
}

fn good_claims() -> Value {
    json!({"jti": "e1j3V_bKic8-LAEB", "htm": "GET", "htu": "https://api.example.com/orders/42",
           "iat": NOW, "ath": token_hash(TOKEN)})
}

/// `header` and `claims` signed by key `seed`.
fn signed(header: &Value, claims: &Value, seed: u8) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let input = format!("{}.{}", encode(header), encode(claims));
    let signature: Signature = signing_key(seed).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn origins() -> Vec<String> {
    vec!["https://api.example.com".to_owned()]
}

const ALGORITHMS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA];

fn rules(nonces: Option<&Nonces>) -> ProofRules<'_> {
    ProofRules {
        algorithms: &ALGORITHMS,
        max_age_s: 60,
        skew_s: 5,
        nonces,
    }
}

/// The whole check (cheap checks, then the signature) of `proofs` for
/// `GET /orders/42` with [`TOKEN`] bound to key 1.
fn judge_all(proofs: &[&str], nonces: Option<&Nonces>) -> Result<bool, ProofFailure> {
    let origins = origins();
    let jkt = jkt(1);
    let request = ProofRequest {
        proofs,
        method: "GET",
        origins: &origins,
        path: "/orders/42",
        access_token: TOKEN,
        jkt: &jkt,
        now: NOW,
    };
    let checked = check(&request, &rules(nonces))?;
    verify(&checked, &RustCrypto)?;
    Ok(checked.nonce_stale)
}

fn judge(proof: &str) -> Result<bool, ProofFailure> {
    judge_all(&[proof], None)
}

fn with_claim(name: &str, value: Value) -> String {
    let mut claims = good_claims();
    claims[name] = value;
    signed(&good_header(), &claims, 1)
}

fn with_header(name: &str, value: Value) -> String {
    let mut header = good_header();
    header[name] = value;
    signed(&header, &good_claims(), 1)
}

#[test]
fn a_good_proof_passes() {
    assert_eq!(judge(&signed(&good_header(), &good_claims(), 1)), Ok(false));
}

#[test]
fn exactly_one_header() {
    let good = signed(&good_header(), &good_claims(), 1);
    assert_eq!(judge_all(&[], None), Err(ProofFailure::Count));
    assert_eq!(judge_all(&[&good, &good], None), Err(ProofFailure::Count));
    assert!(matches!(
        judge("not.a-jws"),
        Err(ProofFailure::Unreadable(_))
    ));
}

#[test]
fn typ_must_be_dpop_jwt() {
    for typ in [
        "dpop+jwt",
        "DPoP+JWT",
        "application/dpop+jwt",
        "Application/DPOP+jwt",
    ] {
        assert_eq!(judge(&with_header("typ", json!(typ))), Ok(false), "{typ}");
    }
    for typ in [
        json!("jwt"),
        json!("at+jwt"),
        json!("application/jwt"),
        json!(null),
    ] {
        assert_eq!(
            judge(&with_header("typ", typ.clone())),
            Err(ProofFailure::Type),
            "{typ}"
        );
    }
}

#[test]
fn alg_must_be_on_the_allow_list() {
    for alg in ["none", "HS256", "ES384", "ES512", "RS1"] {
        assert_eq!(
            judge(&with_header("alg", json!(alg))),
            Err(ProofFailure::Algorithm),
            "{alg}"
        );
    }
}

#[test]
fn jwk_must_be_a_public_key_for_alg() {
    let mut private = jwk(&signing_key(1));
    private["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    let mut p384 = jwk(&signing_key(1));
    p384["crv"] = json!("P-384");
    let oct = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode([1u8; 32])});
    for bad in [private, p384, oct, json!({"kty": "EC"})] {
        assert_eq!(
            judge(&with_header("jwk", bad.clone())),
            Err(ProofFailure::Key),
            "{bad}"
        );
    }
    // An RSA key under ES256: a key of a type the alg does not use.
    let rsa = json!({"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256])});
    assert_eq!(judge(&with_header("jwk", rsa)), Err(ProofFailure::Key));
}

#[test]
fn the_token_must_be_bound_to_the_proofs_key() {
    // Someone else's key, proof signed with it: a valid proof for another token.
    let mut header = good_header();
    header["jwk"] = jwk(&signing_key(2));
    assert_eq!(
        judge(&signed(&header, &good_claims(), 2)),
        Err(ProofFailure::Thumbprint)
    );
}

#[test]
fn jti_is_one_to_256_bytes() {
    assert_eq!(judge(&with_claim("jti", json!("x".repeat(256)))), Ok(false));
    assert_eq!(judge(&with_claim("jti", json!(""))), Err(ProofFailure::Jti));
    assert_eq!(
        judge(&with_claim("jti", json!("x".repeat(257)))),
        Err(ProofFailure::Jti)
    );
}

#[test]
fn htm_is_the_method() {
    assert_eq!(
        judge(&with_claim("htm", json!("POST"))),
        Err(ProofFailure::Method)
    );
    assert_eq!(
        judge(&with_claim("htm", json!("get"))),
        Err(ProofFailure::Method)
    );
}

#[test]
fn htu_is_an_origin_and_the_path_normalised() {
    for same in [
        "https://api.example.com/orders/42",
        "HTTPS://API.EXAMPLE.COM:443/orders/42",
        "https://api.example.com/orders/./42?ignored=1#and-this",
        "https://api.example.com/%6Frders/42",
    ] {
        assert_eq!(judge(&with_claim("htu", json!(same))), Ok(false), "{same}");
    }
    for other in [
        "https://api.example.com/orders/43",
        "https://api.example.com/Orders/42",
        "http://api.example.com/orders/42",
        "https://api.example.com:8443/orders/42",
        "https://evil.example.com/orders/42",
        "https://api.example.com.evil.com/orders/42",
        "/orders/42",
        "https://api.example.com",
    ] {
        assert_eq!(
            judge(&with_claim("htu", json!(other))),
            Err(ProofFailure::Uri),
            "{other}"
        );
    }
}

#[test]
fn iat_is_within_the_window() {
    assert_eq!(judge(&with_claim("iat", json!(NOW - 65))), Ok(false));
    assert_eq!(judge(&with_claim("iat", json!(NOW + 5))), Ok(false));
    assert_eq!(
        judge(&with_claim("iat", json!(NOW - 66))),
        Err(ProofFailure::Age)
    );
    assert_eq!(
        judge(&with_claim("iat", json!(NOW + 6))),
        Err(ProofFailure::Age)
    );
}

#[test]
fn with_nonces_a_current_nonce_is_needed() {
    let nonces = Nonces::new(SECRET.to_vec(), 300);
    let fresh = with_claim("nonce", json!(nonces.issue(NOW - 10)));
    assert_eq!(judge_all(&[&fresh], Some(&nonces)), Ok(false));
    let stale = with_claim("nonce", json!(nonces.issue(NOW - 200)));
    assert_eq!(
        judge_all(&[&stale], Some(&nonces)),
        Ok(true),
        "stale: a new one offered"
    );
    let none = signed(&good_header(), &good_claims(), 1);
    assert_eq!(judge_all(&[&none], Some(&nonces)), Err(ProofFailure::Nonce));
    let expired = with_claim("nonce", json!(nonces.issue(NOW - 300)));
    assert_eq!(
        judge_all(&[&expired], Some(&nonces)),
        Err(ProofFailure::Nonce)
    );
    // Without nonces a nonce is ignored.
    assert_eq!(judge(&with_claim("nonce", json!("whatever"))), Ok(false));
}

#[test]
fn ath_names_the_token() {
    assert_eq!(
        judge(&with_claim("ath", json!(token_hash("another.token.x")))),
        Err(ProofFailure::TokenHash)
    );
    let mut claims = good_claims();
    claims.as_object_mut().unwrap().remove("ath");
    assert_eq!(
        judge(&signed(&good_header(), &claims, 1)),
        Err(ProofFailure::TokenHash)
    );
}

#[test]
fn the_signature_is_the_proofs_keys() {
    // Key 1's jwk in the header, signed by key 2: every cheap check passes.
    assert_eq!(
        judge(&signed(&good_header(), &good_claims(), 2)),
        Err(ProofFailure::Signature)
    );
    let good = signed(&good_header(), &good_claims(), 1);
    let (input, signature) = good.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(judge(&tampered), Err(ProofFailure::Signature));
}

#[test]
fn cheap_failures_come_before_the_signature() {
    // Signed by the wrong key and for the wrong method: the method is named,
    // no signature work was needed to refuse it.
    let mut claims = good_claims();
    claims["htm"] = json!("DELETE");
    assert_eq!(
        judge(&signed(&good_header(), &claims, 2)),
        Err(ProofFailure::Method)
    );
}

/// RFC 9449 §7.1 (Figures 13–14): the protected resource request, its access
/// token bound (§6.1) to the proof's key, checked at the second it was made.
#[test]
fn rfc_9449_protected_resource_request() {
    let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
    let access_token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    assert_eq!(
        token_hash(access_token),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
    let origins = vec!["https://resource.example.org".to_owned()];
    let request = ProofRequest {
        proofs: &[proof],
        method: "GET",
        origins: &origins,
        path: "/protectedresource",
        access_token,
        jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        now: 1_562_262_618,
    };
    let checked = check(&request, &rules(None)).unwrap();
    assert_eq!(checked.jti, "e1j3V_bKic8-LAEB");
    assert_eq!(verify(&checked, &RustCrypto), Ok(()));
    // The same proof for another path, or a minute and more later, is refused.
    let elsewhere = ProofRequest {
        path: "/other",
        ..request
    };
    assert_eq!(
        check(&elsewhere, &rules(None)).unwrap_err(),
        ProofFailure::Uri
    );
    let later = ProofRequest {
        now: 1_562_262_618 + 66,
        ..request
    };
    assert_eq!(check(&later, &rules(None)).unwrap_err(), ProofFailure::Age);
}

/// An Ed25519 proof made by panva/dpop (as go-dpop's tests carry it), signed
/// as `EdDSA`; its key's thumbprint computed by RFC 7638.
#[test]
fn an_ed25519_proof_verifies() {
    let proof = "eyJhbGciOiJFZERTQSIsInR5cCI6ImRwb3Arand0IiwiandrIjp7Imt0eSI6Ik9LUCIsImNydiI6IkVkMjU1MTkiLCJ4IjoiV0JfdEFJOXhBYVYxQnBBTm83MGdQdXFxYmFXdUd4Yjc4RWs4ckFndGdoTSJ9fQ.eyJpYXQiOjE2ODYyMDQ5OTcsImp0aSI6ImkxbFlVREVKVnhKbFNXQ1J3RFdqeDNpX0NfbHI5YkU5akY4M2pNNVg0c2MiLCJodG0iOiJQT1NUIiwiaHR1IjoiaHR0cHM6Ly9zZXJ2ZXIuZXhhbXBsZS5jb20vdG9rZW4ifQ.KuJM02onLlKasjyEIsJkFMvHhwurdowJseV3JQ-8e4cwVfB0GsGLF8PAmV6PallVj9oLd9ek-T79l5j2jIFkBw";
    let parsed = read(proof).unwrap();
    assert_eq!(
        thumbprint(&parsed.jwk).as_deref(),
        Some("fzvxQWIz9-CmxXGQOJ3zPFeI2qKryLJf25eYdNHGaZc")
    );
    let key = public_key(&parsed.jwk).unwrap();
    let checked = CheckedProof {
        key,
        alg: Algorithm::EdDSA,
        signing_input: parsed.signing_input,
        signature: parsed.signature,
        jti: parsed.jti,
        iat: parsed.iat,
        nonce_stale: false,
    };
    assert_eq!(verify(&checked, &RustCrypto), Ok(()));
}
