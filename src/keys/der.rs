//! The few DER structures host-native verification needs, built once per key:
//! SubjectPublicKeyInfo for RSA and EC keys, and the DER form of an ECDSA
//! signature that JWS sends as raw `r || s`.

/// `rsaEncryption` (1.2.840.113549.1.1.1).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-ecPublicKey` (1.2.840.10045.2.1).
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `prime256v1` (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1` (1.3.132.0.34).
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;

/// An EC curve with a SubjectPublicKeyInfo form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256.
    P256,
    /// P-384.
    P384,
}

impl Curve {
    /// Bytes in one coordinate or one signature half.
    pub fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// One DER element: tag, definite length, content.
fn element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len().saturating_add(6));
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.extend(u8::try_from(len));
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let significant = bytes.get(first..).unwrap_or_default();
        out.extend(u8::try_from(significant.len()).map(|n| 0x80 | n));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER holding the unsigned big-endian `magnitude`.
fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let first = magnitude
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(magnitude.len());
    let trimmed = magnitude.get(first..).unwrap_or_default();
    let mut content = Vec::with_capacity(trimmed.len().saturating_add(1));
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    element(INTEGER, &content)
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// SubjectPublicKeyInfo of an RSA key from its modulus and exponent.
pub fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let algorithm = element(
        SEQUENCE,
        &concat(&[&element(OID, OID_RSA), &element(NULL, &[])]),
    );
    let key = element(
        SEQUENCE,
        &concat(&[&unsigned_integer(modulus), &unsigned_integer(exponent)]),
    );
    let bits = element(BIT_STRING, &concat(&[&[0], &key]));
    element(SEQUENCE, &concat(&[&algorithm, &bits]))
}

/// SubjectPublicKeyInfo of an EC key from its curve and coordinates.
pub fn ec_spki(curve: Curve, x: &[u8], y: &[u8]) -> Vec<u8> {
    let curve_oid = match curve {
        Curve::P256 => OID_P256,
        Curve::P384 => OID_P384,
    };
    let algorithm = element(
        SEQUENCE,
        &concat(&[&element(OID, OID_EC), &element(OID, curve_oid)]),
    );
    let bits = element(BIT_STRING, &concat(&[&[0, 0x04], x, y]));
    element(SEQUENCE, &concat(&[&algorithm, &bits]))
}

/// The DER `ECDSA-Sig-Value` of a raw JWS signature `r || s`; `None` unless
/// `raw` is exactly two halves of the curve's size.
pub fn ecdsa_der(curve: Curve, raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != curve.size().saturating_mul(2) {
        return None;
    }
    let (r, s) = raw.split_at(curve.size());
    Some(element(
        SEQUENCE,
        &concat(&[&unsigned_integer(r), &unsigned_integer(s)]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 5]), vec![INTEGER, 1, 5]);
        assert_eq!(unsigned_integer(&[0x80]), vec![INTEGER, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0]), vec![INTEGER, 1, 0]);
        assert_eq!(unsigned_integer(&[]), vec![INTEGER, 1, 0]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let content = vec![7u8; 300];
        let encoded = element(SEQUENCE, &content);
        assert_eq!(&encoded[..4], &[SEQUENCE, 0x82, 0x01, 0x2c]);
        assert_eq!(encoded.len(), 304);
    }

    #[test]
    fn ecdsa_signatures_need_the_exact_raw_length() {
        assert!(ecdsa_der(Curve::P256, &[1; 63]).is_none());
        assert!(ecdsa_der(Curve::P256, &[1; 65]).is_none());
        assert!(ecdsa_der(Curve::P384, &[1; 64]).is_none());
        let der = ecdsa_der(Curve::P256, &[0xff; 64]).unwrap();
        assert_eq!(der.len(), 2 + 2 * (2 + 33));
    }
}
