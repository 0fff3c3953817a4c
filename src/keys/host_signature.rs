//! The wire format of Envoy's `verify_signature` foreign function, pure:
//! `VerifySignatureArguments {hash_function=1, public_key=2 (DER SPKI),
//! signature=3, text=4}` in, `VerifySignatureResult {result=1, error=2}` out.

/// Name of the foreign function.
pub const FUNCTION: &str = "verify_signature";

/// Encodes the arguments message.
pub fn encode_arguments(hash: &str, spki: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let total = [hash.len(), spki.len(), signature.len(), text.len(), 24]
        .iter()
        .fold(0usize, |sum, len| sum.saturating_add(*len));
    let mut out = Vec::with_capacity(total);
    for (field, bytes) in [(1u8, hash.as_bytes()), (2, spki), (3, signature), (4, text)] {
        out.push((field << 3) | 2);
        push_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads `result` from a result message; `None` if it is not a well-formed one.
pub fn decode_result(bytes: &[u8]) -> Option<bool> {
    let mut rest = bytes;
    let mut result = false;
    while !rest.is_empty() {
        let (tag, after) = read_varint(rest)?;
        rest = after;
        match tag & 7 {
            0 => {
                let (value, after) = read_varint(rest)?;
                rest = after;
                if tag >> 3 == 1 {
                    result = value != 0;
                }
            }
            2 => {
                let (len, after) = read_varint(rest)?;
                let len = usize::try_from(len).ok()?;
                rest = after.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(result)
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        let shift = u32::try_from(index).ok()?.checked_mul(7)?;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(index.checked_add(1)?..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_length_delimited_fields_in_order() {
        let encoded = encode_arguments("sha256", &[1, 2], &[3], &[4; 200]);
        assert_eq!(
            &encoded[..8],
            &[0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6']
        );
        assert_eq!(&encoded[8..12], &[0x12, 2, 1, 2]);
        assert_eq!(&encoded[12..15], &[0x1a, 1, 3]);
        assert_eq!(
            &encoded[15..18],
            &[0x22, 0xc8, 0x01],
            "200 as a two-byte varint"
        );
        assert_eq!(encoded.len(), 18 + 200);
    }

    #[test]
    fn results_are_read_and_garbage_is_none() {
        assert_eq!(decode_result(&[0x08, 1]), Some(true));
        assert_eq!(decode_result(&[0x08, 0]), Some(false));
        assert_eq!(decode_result(&[]), Some(false), "proto3 default");
        assert_eq!(decode_result(&[0x12, 3, b'b', b'a', b'd']), Some(false));
        assert_eq!(
            decode_result(&[0x12, 3, b'b', b'a', b'd', 0x08, 1]),
            Some(true)
        );
        assert_eq!(decode_result(&[0x12, 9, b'x']), None, "truncated");
        assert_eq!(
            decode_result(&[0x0d, 0, 0, 0, 0]),
            None,
            "fixed32 is not expected"
        );
        assert_eq!(decode_result(&[0x08, 0xff]), None, "unterminated varint");
    }
}
