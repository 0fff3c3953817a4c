//! The `jwks` target: the input as a JWKS body, parsed for each origin and
//! fetched, and every usable key against the signature code (fuzz/README.md,
//! `jwks`).

use audgate::keys::fetch_reply::{accept_body, FetchFailure, MAX_JWKS_BYTES};
use audgate::keys::jwks::{parse_jwks_bytes, KeyKind, Origin, ParsedJwks, SkipReason, MAX_KEYS};
use audgate::keys::verify::{RustCrypto, SignatureBackend};
use serde_json::Value;

/// The algorithms tried on each usable key (one of each verifier family), besides
/// the key's own `alg`.
const TRIED: [jsonwebtoken::Algorithm; 7] = [
    jsonwebtoken::Algorithm::HS256,
    jsonwebtoken::Algorithm::HS512,
    jsonwebtoken::Algorithm::RS256,
    jsonwebtoken::Algorithm::PS384,
    jsonwebtoken::Algorithm::ES256,
    jsonwebtoken::Algorithm::ES384,
    jsonwebtoken::Algorithm::EdDSA,
];

/// Keys whose signatures are tried per input (the rest are only parsed).
const VERIFIED_KEYS: usize = 4;

/// `jwks`: the input as a JWKS body, fetched (`accept_body`) and parsed for each
/// origin. Never a panic; the usable keys keep the documented rules; every usable
/// key meets the signature code without panicking.
pub fn jwks(data: &[u8]) {
    let remote = parse_jwks_bytes(data, Origin::Remote);
    let local = parse_jwks_bytes(data, Origin::Local { allow_hmac: false });
    let hmac = parse_jwks_bytes(data, Origin::Local { allow_hmac: true });
    let json: Option<Value> = serde_json::from_slice(data).ok();
    let entries = json
        .as_ref()
        .and_then(|value| value.get("keys"))
        .and_then(Value::as_array);
    for (parsed, hmac_allowed) in [(&remote, false), (&local, false), (&hmac, true)] {
        match parsed {
            Ok(parsed) => check_jwks(parsed, entries.map(Vec::len), hmac_allowed),
            Err(error) => {
                assert!(!error.to_string().is_empty(), "an empty JWKS error");
                assert!(
                    entries.is_none(),
                    "refused a JSON object with a keys array: {error:?}"
                );
            }
        }
    }
    assert_eq!(
        remote.is_ok(),
        hmac.is_ok(),
        "origin changes whether the set reads"
    );

    match accept_body(data.to_vec()) {
        Ok((text, parsed)) => {
            assert!(data.len() <= MAX_JWKS_BYTES, "took a body over the limit");
            assert_eq!(text.as_bytes(), data, "the kept text is not the body");
            assert!(!parsed.set.is_empty(), "took a body without a usable key");
            assert!(
                parsed.set.keys().iter().all(|k| k.kind != KeyKind::Hmac),
                "took an oct key from a fetch"
            );
        }
        Err(failure) => {
            assert!(!failure.to_string().is_empty(), "an empty fetch failure");
            let fits = data.len() <= MAX_JWKS_BYTES && std::str::from_utf8(data).is_ok();
            let usable = remote.as_ref().is_ok_and(|p| !p.set.is_empty());
            assert!(!(fits && usable), "refused a usable set: {failure}");
            match failure {
                FetchFailure::TooLarge(size) => {
                    assert!(size == data.len() && size > MAX_JWKS_BYTES)
                }
                FetchFailure::NotText => assert!(std::str::from_utf8(data).is_err()),
                FetchFailure::Jwks(error) => assert_eq!(remote.as_ref().err(), Some(&error)),
                FetchFailure::NoUsableKey => {
                    assert!(remote.as_ref().is_ok_and(|p| p.set.is_empty()))
                }
                other => panic!("accept_body failed with {other:?}"),
            }
        }
    }

    // Every usable key (of the first few) against the signature code: a
    // signature of the right length and junk, under each algorithm it allows.
    if let Ok(parsed) = &hmac {
        let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
        let junk = [0x5a_u8; 1024];
        for key in parsed.set.keys().iter().take(VERIFIED_KEYS) {
            let lengths: &[usize] = match key.kind {
                KeyKind::Rsa => &[256, 384, 512],
                KeyKind::EcP256 => &[64],
                KeyKind::EcP384 => &[96],
                KeyKind::Ed25519 => &[64],
                KeyKind::Hmac => &[32, 64],
            };
            let own = key.alg.filter(|alg| !TRIED.contains(alg));
            for alg in TRIED.into_iter().chain(own).filter(|alg| key.allows(*alg)) {
                for &length in lengths {
                    let signature = junk.get(..length).unwrap_or_default();
                    let _ = RustCrypto.verify(key, alg, message, signature);
                }
                let _ = RustCrypto.verify(key, alg, message, &[]);
            }
        }
    }
}

fn check_jwks(parsed: &ParsedJwks, entries: Option<usize>, hmac_allowed: bool) {
    let keys = parsed.set.keys();
    assert!(keys.len() <= MAX_KEYS, "{} keys kept", keys.len());
    if let Some(entries) = entries {
        assert_eq!(
            keys.len() + parsed.skipped.len(),
            entries,
            "keys lost or invented"
        );
    }
    for key in keys {
        assert!(
            hmac_allowed || key.kind != KeyKind::Hmac,
            "an oct key where none is allowed"
        );
        assert!(
            key.alg.is_none_or(|alg| key.kind.allows(alg)),
            "{key:?}: its alg does not fit its kind"
        );
        let has_spki = matches!(key.kind, KeyKind::Rsa | KeyKind::EcP256 | KeyKind::EcP384);
        assert_eq!(key.spki.is_some(), has_spki, "{key:?}: SPKI");
    }
    for skipped in &parsed.skipped {
        assert_eq!(
            skipped.reason == SkipReason::TooManyKeys,
            skipped.index >= MAX_KEYS,
            "{skipped:?}"
        );
        if let Some(entries) = entries {
            assert!(skipped.index < entries, "{skipped:?} past the set");
        }
    }
}
