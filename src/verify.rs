//! Signature check of one token against one key (`jsonwebtoken`, `rust_crypto`).

use jsonwebtoken::Algorithm;

use crate::jwks::Key;

/// Whether `signature_b64` is a valid `alg` signature of `signing_input` by `key`.
/// Any error (wrong length, bad encoding, unusable key) counts as not valid.
pub fn signature_matches(
    key: &Key,
    alg: Algorithm,
    signing_input: &[u8],
    signature_b64: &str,
) -> bool {
    key.allows(alg)
        && jsonwebtoken::crypto::verify(signature_b64, signing_input, &key.decoding, alg)
            .unwrap_or(false)
}
