//! The RFC 7638 SHA-256 thumbprint of a public JWK: what a DPoP-bound token's
//! `cnf.jkt` names. Only the key type's required members count, in
//! lexicographic order, as JSON without whitespace.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// base64url(SHA-256(canonical JWK)), or `None` for a key type without a
/// thumbprint here (`RSA`, `EC` and `OKP` have one) or a required member that
/// is missing or not a string.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (index, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if index > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":");
        canonical.push_str(&Value::String(value.to_owned()).to_string());
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(jwk: Value) -> Option<String> {
        thumbprint(jwk.as_object().unwrap())
    }

    #[test]
    fn rfc_7638_section_3_1() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            of(jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc_9449_section_6_1_jkt_names_the_proofs_key() {
        let jwk = json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        });
        assert_eq!(
            of(jwk).as_deref(),
            Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        );
    }

    #[test]
    fn rfc_8037_appendix_a_3_okp() {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                         "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            of(jwk).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
    }

    #[test]
    fn only_the_required_members_count() {
        let bare = json!({"kty": "OKP", "crv": "Ed25519", "x": "abc"});
        let dressed = json!({"x": "abc", "use": "sig", "kid": "k", "crv": "Ed25519", "kty": "OKP"});
        assert_eq!(of(bare.clone()), of(dressed));
        assert_ne!(
            of(bare),
            of(json!({"kty": "OKP", "crv": "Ed25519", "x": "abd"}))
        );
    }

    #[test]
    fn no_thumbprint_without_its_members() {
        assert_eq!(of(json!({"kty": "EC", "crv": "P-256", "x": "a"})), None);
        assert_eq!(
            of(json!({"kty": "EC", "crv": "P-256", "x": "a", "y": 1})),
            None
        );
        assert_eq!(of(json!({"kty": "oct", "k": "secret"})), None);
        assert_eq!(of(json!({"n": "a", "e": "AQAB"})), None);
    }
}
