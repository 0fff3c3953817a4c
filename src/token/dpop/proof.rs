//! A `DPoP` request header read (RFC 9449 §4.2): one compact JWS of at most
//! 8 KiB, its JOSE header (`typ`, `alg`, the public `jwk`) and its claims
//! (`jti`, `htm`, `htu`, `iat`, `ath`, `nonce`), each of the type the RFC
//! gives it. No crypto, no comparison with the request: `token::dpop::checks`.

use serde_json::{Map, Value};

use crate::token::{no_critical_extensions, parse_compact, TokenError};

/// The request header a proof is sent in.
pub const DPOP_HEADER: &str = "dpop";

/// Longest proof read; a longer one is refused before any decoding.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// A proof's parts, decoded but not checked against anything.
#[derive(Debug)]
pub struct Proof<'a> {
    /// `typ`, as written (absent: empty, which no check accepts).
    pub typ: String,
    /// `alg`, as written.
    pub alg: String,
    /// The public key the proof is signed with.
    pub jwk: Map<String, Value>,
    /// `jti`.
    pub jti: String,
    /// `htm`: the request method.
    pub htm: String,
    /// `htu`: the request URI.
    pub htu: String,
    /// `iat`, in Unix seconds.
    pub iat: i64,
    /// `ath`: base64url(SHA-256(access token)), when present.
    pub ath: Option<String>,
    /// `nonce`, when present.
    pub nonce: Option<String>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The signature, decoded.
    pub signature: Vec<u8>,
}

/// Why a proof could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Not a compact JWS of at most [`MAX_PROOF_BYTES`] with JSON objects.
    NotAJws(TokenError),
    /// `alg` is missing or not a string, or `crit` names an extension.
    Header,
    /// `jwk` is missing or not an object.
    NoKey,
    /// A claim is missing or of the wrong type; its name.
    Claim(&'static str),
}

impl ProofError {
    /// The reason in words, for the log.
    pub fn describe(self) -> String {
        match self {
            ProofError::NotAJws(error) => format!("the DPoP proof is not a compact JWS ({error})"),
            ProofError::Header => "the DPoP proof's header has no alg, or names crit".into(),
            ProofError::NoKey => "the DPoP proof's header has no jwk object".into(),
            ProofError::Claim(name) => format!("the DPoP proof's {name} is missing or mistyped"),
        }
    }
}

/// Reads the proof `raw`.
pub fn read(raw: &str) -> Result<Proof<'_>, ProofError> {
    let compact = parse_compact(raw, MAX_PROOF_BYTES).map_err(ProofError::NotAJws)?;
    let mut header = compact.header;
    if !no_critical_extensions(&header) {
        return Err(ProofError::Header);
    }
    let alg = match header.remove("alg") {
        Some(Value::String(alg)) => alg,
        _ => return Err(ProofError::Header),
    };
    let typ = match header.remove("typ") {
        Some(Value::String(typ)) => typ,
        _ => String::new(),
    };
    let Some(Value::Object(jwk)) = header.remove("jwk") else {
        return Err(ProofError::NoKey);
    };
    let mut claims = compact.claims;
    let mut text = |name: &'static str| match claims.remove(name) {
        Some(Value::String(value)) => Ok(value),
        _ => Err(ProofError::Claim(name)),
    };
    let (jti, htm, htu) = (text("jti")?, text("htm")?, text("htu")?);
    let optional = |claims: &mut Map<String, Value>, name: &'static str| match claims.remove(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ProofError::Claim(name)),
    };
    let ath = optional(&mut claims, "ath")?;
    let nonce = optional(&mut claims, "nonce")?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(ProofError::Claim("iat"))?;
    Ok(Proof {
        typ,
        alg,
        jwk,
        jti,
        htm,
        htu,
        iat,
        ath,
        nonce,
        signing_input: compact.signing_input,
        signature: compact.signature,
    })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    use super::*;

    fn jws(header: Value, claims: Value) -> String {
        let encode = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
        format!(
            "{}.{}.{}",
            encode(header),
            encode(claims),
            URL_SAFE_NO_PAD.encode("sig")
        )
    }

    fn header() -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256",
               "jwk": {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}})
    }

    fn claims() -> Value {
        json!({"jti": "j1", "htm": "GET", "htu": "https://h/a", "iat": 1700000000,
               "ath": "hash", "nonce": "n"})
    }

    #[test]
    fn reads_every_part() {
        let raw = jws(header(), claims());
        let proof = read(&raw).unwrap();
        assert_eq!(
            (proof.typ.as_str(), proof.alg.as_str()),
            ("dpop+jwt", "ES256")
        );
        assert_eq!(proof.jwk["crv"], "P-256");
        assert_eq!((proof.jti.as_str(), proof.htm.as_str()), ("j1", "GET"));
        assert_eq!(
            (proof.htu.as_str(), proof.iat),
            ("https://h/a", 1_700_000_000)
        );
        assert_eq!(proof.ath.as_deref(), Some("hash"));
        assert_eq!(proof.nonce.as_deref(), Some("n"));
        assert_eq!(proof.signing_input, raw.rsplit_once('.').unwrap().0);
        assert_eq!(proof.signature, b"sig");
    }

    #[test]
    fn ath_and_nonce_are_optional_the_rest_required() {
        let mut bare = claims();
        bare.as_object_mut().unwrap().remove("ath");
        bare.as_object_mut().unwrap().remove("nonce");
        let raw = jws(header(), bare.clone());
        let proof = read(&raw).unwrap();
        assert_eq!((proof.ath, proof.nonce), (None, None));
        for name in ["jti", "htm", "htu", "iat"] {
            let mut missing = bare.clone();
            missing.as_object_mut().unwrap().remove(name);
            assert_eq!(
                read(&jws(header(), missing)).unwrap_err(),
                ProofError::Claim(name)
            );
            let mut mistyped = bare.clone();
            mistyped[name] = json!(["x"]);
            assert_eq!(
                read(&jws(header(), mistyped)).unwrap_err(),
                ProofError::Claim(name)
            );
        }
        let mut odd = claims();
        odd["ath"] = json!(1);
        assert_eq!(
            read(&jws(header(), odd)).unwrap_err(),
            ProofError::Claim("ath")
        );
        let mut fractional = claims();
        fractional["iat"] = json!(1.5);
        assert_eq!(
            read(&jws(header(), fractional)).unwrap_err(),
            ProofError::Claim("iat")
        );
    }

    #[test]
    fn the_header_needs_alg_and_a_jwk_object_and_no_crit() {
        let mut no_alg = header();
        no_alg.as_object_mut().unwrap().remove("alg");
        assert_eq!(
            read(&jws(no_alg, claims())).unwrap_err(),
            ProofError::Header
        );
        let mut crit = header();
        crit["crit"] = json!(["exp"]);
        assert_eq!(read(&jws(crit, claims())).unwrap_err(), ProofError::Header);
        let mut kid_only = header();
        kid_only.as_object_mut().unwrap().remove("jwk");
        kid_only["kid"] = json!("k1");
        assert_eq!(
            read(&jws(kid_only, claims())).unwrap_err(),
            ProofError::NoKey
        );
        let mut text_key = header();
        text_key["jwk"] = json!("{}");
        assert_eq!(
            read(&jws(text_key, claims())).unwrap_err(),
            ProofError::NoKey
        );
    }

    #[test]
    fn an_oversized_or_broken_jws_is_not_read() {
        let huge = jws(header(), json!({"pad": "x".repeat(MAX_PROOF_BYTES)}));
        assert_eq!(
            read(&huge).unwrap_err(),
            ProofError::NotAJws(TokenError::TooLong)
        );
        assert_eq!(
            read("a.b").unwrap_err(),
            ProofError::NotAJws(TokenError::NotThreeParts)
        );
    }
}
