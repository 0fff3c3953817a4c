//! A request's DPoP proof checked against the request and its token, the cheap
//! checks first in the order the contract lists them (RFC 9449 §4.3 allows any),
//! so no signature work is spent on a proof that fails one; then [`verify`],
//! the signature. The replay store comes last, in the host's hands.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};

use crate::keys::jwks::{algorithm_named, public_key, Key};
use crate::keys::verify::SignatureBackend;
use crate::token::dpop::htu::{normalise, normalise_path};
use crate::token::dpop::nonce::{NonceVerdict, Nonces};
use crate::token::dpop::proof::{read, ProofError};
use crate::token::dpop::thumbprint::thumbprint;

/// Longest `jti` accepted, in bytes.
pub const MAX_JTI_BYTES: usize = 256;

/// What a provider's `dpop` asks of a proof.
#[derive(Clone, Copy)]
pub struct ProofRules<'a> {
    /// The `alg` allow-list (never `none` or `HS*`).
    pub algorithms: &'a [Algorithm],
    /// How old `iat` may be, in seconds (plus the skew).
    pub max_age_s: i64,
    /// The provider's `clock_skew_s`.
    pub skew_s: i64,
    /// Server nonces, when turned on.
    pub nonces: Option<&'a Nonces>,
}

/// The request a proof must match, and its token; `'p`: the proofs' text,
/// which a checked proof borrows.
#[derive(Clone, Copy)]
pub struct ProofRequest<'a, 'p> {
    /// Every `DPoP` header value the request carries.
    pub proofs: &'a [&'p str],
    /// `:method`.
    pub method: &'a str,
    /// What `htu` may name before the path, each normalised
    /// ([`normalise`]): `dpop.origins`, else the request's own.
    pub origins: &'a [String],
    /// The request's path as the rules resolve it, without its query.
    pub path: &'a str,
    /// The access token the proof must name (`ath`).
    pub access_token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
    /// Now, in Unix seconds.
    pub now: i64,
}

/// A proof that passed every check but its signature: what [`verify`] and the
/// replay store need.
#[derive(Debug)]
pub struct CheckedProof<'a> {
    /// The proof's key.
    pub key: Key,
    /// Its algorithm.
    pub alg: Algorithm,
    /// The bytes its signature covers.
    pub signing_input: &'a str,
    /// Its signature.
    pub signature: Vec<u8>,
    /// Its `jti`, for the replay store.
    pub jti: String,
    /// Its `iat`, which with `max_age_s` ends its window.
    pub iat: i64,
    /// Its nonce is past half its life: offer a fresh one on the response.
    pub nonce_stale: bool,
}

/// Why a proof is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofFailure {
    /// Not exactly one `DPoP` header.
    Count,
    /// The header is not a readable proof.
    Unreadable(ProofError),
    /// `typ` is not `dpop+jwt`.
    Type,
    /// `alg` is not on the allow-list.
    Algorithm,
    /// `jwk` is not a public key of a type `alg` uses.
    Key,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's key.
    Thumbprint,
    /// `jti` is empty or longer than [`MAX_JTI_BYTES`].
    Jti,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not an allowed origin followed by the request's path.
    Uri,
    /// `iat` is too old or in the future.
    Age,
    /// Nonces are on and the proof's is not current (`use_dpop_nonce`).
    Nonce,
    /// `ath` is missing or does not name the access token.
    TokenHash,
    /// The signature does not verify with the proof's key.
    Signature,
}

impl ProofFailure {
    /// The reason in words, for the log.
    pub fn describe(self) -> String {
        match self {
            ProofFailure::Count => "not exactly one DPoP header".into(),
            ProofFailure::Unreadable(error) => error.describe(),
            ProofFailure::Type => "the DPoP proof's typ is not dpop+jwt".into(),
            ProofFailure::Algorithm => "the DPoP proof's alg is not allowed".into(),
            ProofFailure::Key => "the DPoP proof's jwk is not a public key for its alg".into(),
            ProofFailure::Thumbprint => "cnf.jkt does not name the DPoP proof's key".into(),
            ProofFailure::Jti => {
                format!("the DPoP proof's jti is empty or over {MAX_JTI_BYTES} bytes")
            }
            ProofFailure::Method => "the DPoP proof's htm is not the request's method".into(),
            ProofFailure::Uri => "the DPoP proof's htu is not this request's URI".into(),
            ProofFailure::Age => "the DPoP proof's iat is outside the allowed window".into(),
            ProofFailure::Nonce => "the DPoP proof has no current nonce".into(),
            ProofFailure::TokenHash => "the DPoP proof's ath does not name the token".into(),
            ProofFailure::Signature => "the DPoP proof's signature does not verify".into(),
        }
    }
}

/// Every check of the proof that needs no signature work, in order.
pub fn check<'p>(
    request: &ProofRequest<'_, 'p>,
    rules: &ProofRules<'_>,
) -> Result<CheckedProof<'p>, ProofFailure> {
    // 1. Exactly one header, one compact JWS.
    let [raw] = request.proofs else {
        return Err(ProofFailure::Count);
    };
    let proof = read(raw).map_err(ProofFailure::Unreadable)?;
    // 2. Its type, algorithm and key.
    if !is_dpop_type(&proof.typ) {
        return Err(ProofFailure::Type);
    }
    let alg = algorithm_named(&proof.alg)
        .filter(|alg| rules.algorithms.contains(alg))
        .ok_or(ProofFailure::Algorithm)?;
    let key = public_key(&proof.jwk)
        .filter(|key| key.allows(alg))
        .ok_or(ProofFailure::Key)?;
    // 3. The token is bound to this key.
    if thumbprint(&proof.jwk).as_deref() != Some(request.jkt) {
        return Err(ProofFailure::Thumbprint);
    }
    // 4. For this request.
    if proof.jti.is_empty() || proof.jti.len() > MAX_JTI_BYTES {
        return Err(ProofFailure::Jti);
    }
    if proof.htm != request.method {
        return Err(ProofFailure::Method);
    }
    if !names_request(&proof.htu, request) {
        return Err(ProofFailure::Uri);
    }
    // 5. Now.
    let age = request.now.saturating_sub(proof.iat);
    if age > rules.max_age_s.saturating_add(rules.skew_s) || age < rules.skew_s.saturating_neg() {
        return Err(ProofFailure::Age);
    }
    let nonce_stale = match rules.nonces {
        None => false,
        Some(nonces) => match nonces.judge(proof.nonce.as_deref(), request.now, rules.skew_s) {
            NonceVerdict::Current { stale } => stale,
            NonceVerdict::NotCurrent => return Err(ProofFailure::Nonce),
        },
    };
    // 6. With this token.
    if proof.ath.as_deref() != Some(token_hash(request.access_token).as_str()) {
        return Err(ProofFailure::TokenHash);
    }
    Ok(CheckedProof {
        key,
        alg,
        signing_input: proof.signing_input,
        signature: proof.signature,
        jti: proof.jti,
        iat: proof.iat,
        nonce_stale,
    })
}

/// 7. The proof's signature, with its own key.
pub fn verify(
    proof: &CheckedProof<'_>,
    signatures: &dyn SignatureBackend,
) -> Result<(), ProofFailure> {
    let signed = signatures.verify(
        &proof.key,
        proof.alg,
        proof.signing_input.as_bytes(),
        &proof.signature,
    );
    if signed {
        Ok(())
    } else {
        Err(ProofFailure::Signature)
    }
}

/// `dpop+jwt`, ignoring ASCII case and an `application/` prefix.
fn is_dpop_type(typ: &str) -> bool {
    let prefix = "application/";
    let bare = match typ.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => {
            typ.get(prefix.len()..).unwrap_or_default()
        }
        _ => typ,
    };
    bare.eq_ignore_ascii_case("dpop+jwt")
}

/// Whether `htu`, normalised, is one of the origins followed by the request's
/// path, normalised.
fn names_request(htu: &str, request: &ProofRequest<'_, '_>) -> bool {
    let (Some(htu), Some(path)) = (normalise(htu), normalise_path(request.path)) else {
        return false;
    };
    request
        .origins
        .iter()
        .any(|origin| htu.strip_prefix(origin.as_str()) == Some(path.as_str()))
}

/// `ath`: base64url(SHA-256(access token)).
pub fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
