//! The two signature backends decide alike. The host backend is exercised against
//! an independent emulation of Envoy's `verify_signature` (DER SPKI key, DER
//! ECDSA signature, PKCS#1 v1.5 RSA) built on the RustCrypto crates, so that the
//! SPKI and DER conversions audgate does are checked byte for byte.

use crate::support::cases::{self, claims};
use crate::support::decide;
use crate::support::keys::{self, TestKey};
use audgate::config::Config;
use audgate::decision::LocalKeys;
use audgate::keys::jwks::{parse_jwks, Origin};
use audgate::keys::verify::{HostNative, RustCrypto, SignatureBackend};
use audgate::rejection::Rejection;
use p256::pkcs8::DecodePublicKey;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::RsaPublicKey;
use serde_json::json;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Fields of a `VerifySignatureArguments` message.
#[derive(Default, Debug)]
struct Arguments {
    hash: String,
    key: Vec<u8>,
    signature: Vec<u8>,
    text: Vec<u8>,
}

fn varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..).step_by(7) {
        let byte = bytes[0];
        *bytes = &bytes[1..];
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    unreachable!()
}

fn parse_arguments(mut bytes: &[u8]) -> Arguments {
    let mut arguments = Arguments::default();
    while !bytes.is_empty() {
        let tag = varint(&mut bytes);
        assert_eq!(tag & 7, 2, "every argument is length-delimited");
        let len = varint(&mut bytes) as usize;
        let (field, rest) = bytes.split_at(len);
        bytes = rest;
        match tag >> 3 {
            1 => arguments.hash = String::from_utf8(field.to_vec()).unwrap(),
            2 => arguments.key = field.to_vec(),
            3 => arguments.signature = field.to_vec(),
            4 => arguments.text = field.to_vec(),
            other => panic!("unexpected field {other}"),
        }
    }
    arguments
}

/// What Envoy's `verify_signature` would answer, emulated.
fn emulated_host(encoded: &[u8]) -> Option<Vec<u8>> {
    let a = parse_arguments(encoded);
    let valid = if let Ok(key) = RsaPublicKey::from_public_key_der(&a.key) {
        let (scheme, digest) = match a.hash.as_str() {
            "sha256" => (
                Pkcs1v15Sign::new::<Sha256>(),
                Sha256::digest(&a.text).to_vec(),
            ),
            "sha384" => (
                Pkcs1v15Sign::new::<Sha384>(),
                Sha384::digest(&a.text).to_vec(),
            ),
            "sha512" => (
                Pkcs1v15Sign::new::<Sha512>(),
                Sha512::digest(&a.text).to_vec(),
            ),
            other => panic!("hash {other}"),
        };
        key.verify(scheme, &digest, &a.signature).is_ok()
    } else if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&a.key) {
        use p256::ecdsa::signature::Verifier;
        assert_eq!(a.hash, "sha256");
        p256::ecdsa::Signature::from_der(&a.signature)
            .is_ok_and(|sig| key.verify(&a.text, &sig).is_ok())
    } else if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(&a.key) {
        use p384::ecdsa::signature::Verifier;
        assert_eq!(a.hash, "sha384");
        p384::ecdsa::Signature::from_der(&a.signature)
            .is_ok_and(|sig| key.verify(&a.text, &sig).is_ok())
    } else {
        panic!("the host would not read this key")
    };
    Some(vec![0x08, u8::from(valid)])
}

#[test]
fn spki_built_from_each_jwk_is_the_key_openssl_wrote() {
    for key in [
        TestKey::Rsa1,
        TestKey::Rsa2,
        TestKey::Demo,
        TestKey::Ec256,
        TestKey::Ec384,
    ] {
        let parsed = parse_jwks(&keys::jwks(&[key]), Origin::Remote).unwrap();
        let spki = parsed.set.keys()[0].spki.as_deref().unwrap();
        assert_eq!(spki, key.public_der(), "{}", key.kid());
    }
    let ed = parse_jwks(&keys::jwks(&[TestKey::Ed]), Origin::Remote).unwrap();
    assert!(
        ed.set.keys()[0].spki.is_none(),
        "EdDSA stays on rust_crypto"
    );
}

fn decide_with(
    config: &Config,
    token: Option<&str>,
    signatures: &dyn SignatureBackend,
) -> Result<(), Rejection> {
    decide::bearer(config, token, &LocalKeys(config), signatures).verdict
}

#[test]
fn the_whole_token_table_decides_alike_on_both_backends() {
    let config = Config::from_json(cases::config().to_string().as_bytes()).unwrap();
    let host = HostNative {
        call: emulated_host,
    };
    for case in cases::cases() {
        let token = case.token.as_deref();
        let native = decide_with(&config, token, &RustCrypto);
        let hosted = decide_with(&config, token, &host);
        assert_eq!(native, hosted, "{}", case.name);
        assert_eq!(native.is_ok(), case.status == 200, "{}", case.name);
    }
}

#[test]
fn an_ecdsa_signature_in_der_form_is_refused_by_both() {
    let config = Config::from_json(cases::config().to_string().as_bytes()).unwrap();
    let good = keys::sign_default(TestKey::Ec256, claims(json!({})));
    let (message, signature) = good.rsplit_once('.').unwrap();
    let raw = keys::b64_decode(signature);
    let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
    let der_token = format!("{message}.{}", keys::b64(der.as_bytes()));
    let host = HostNative {
        call: emulated_host,
    };
    assert_eq!(decide_with(&config, Some(&good), &host), Ok(()));
    assert_eq!(
        decide_with(&config, Some(&der_token), &RustCrypto),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        decide_with(&config, Some(&der_token), &host),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn a_failing_host_call_falls_back_to_rust_crypto() {
    let config = Config::from_json(cases::config().to_string().as_bytes()).unwrap();
    let unavailable = HostNative {
        call: |_: &[u8]| None,
    };
    let good = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let forged = keys::sign(
        "RS256",
        TestKey::Rsa2,
        json!({"kid": "rsa-1"}),
        claims(json!({})),
    );
    assert_eq!(decide_with(&config, Some(&good), &unavailable), Ok(()));
    for key in [TestKey::Ec256, TestKey::Ec384] {
        let ec = keys::sign_default(key, claims(json!({})));
        assert_eq!(
            decide_with(&config, Some(&ec), &unavailable),
            Ok(()),
            "{}",
            key.kid()
        );
    }
    let garbled = HostNative {
        call: |_: &[u8]| Some(vec![0xff]),
    };
    let es = keys::sign_default(TestKey::Ec256, claims(json!({})));
    assert_eq!(
        decide_with(&config, Some(&es), &garbled),
        Ok(()),
        "an unreadable host answer falls back"
    );
    assert_eq!(
        decide_with(&config, Some(&forged), &unavailable),
        Err(Rejection::BadSignature)
    );
}
