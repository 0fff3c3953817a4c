//! The request headers as the host hands them over: the proxy-wasm serialized
//! header map (`proxy_get_header_map_pairs`), read in place.
//!
//! ```text
//! u32 N | N × (u32 name length, u32 value length) | N × (name NUL value NUL)
//!     ─HeaderMap::parse─▶ [(b":path", b"/orders/1"), (b"authorization", b"Bearer …")]
//!     ─to_owned_pairs─▶  [(":path", "/orders/1"), ("authorization", "Bearer …")]
//! ```
//! Integers are little-endian. Parsing borrows every name and value from the
//! buffer (one `Vec` of slice pairs, nothing per header) and refuses anything
//! malformed rather than guessing.

use std::borrow::Cow;

/// Every request header, borrowed from the serialized map, in order, repeats kept,
/// names and values as the host sent them (bytes, not yet lowercased or UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> HeaderMap<'a> {
    /// Reads a serialized header map; `None` when it is malformed (truncated,
    /// a length past the end, a missing NUL, a count the buffer cannot hold,
    /// bytes left over). An empty buffer is an empty map, as the host returns
    /// no buffer at all for one.
    pub fn parse(bytes: &'a [u8]) -> Option<HeaderMap<'a>> {
        if bytes.is_empty() {
            return Some(HeaderMap::default());
        }
        let (count, rest) = read_u32(bytes)?;
        let table_len = count.checked_mul(8)?;
        let (mut table, mut data) = rest.split_at_checked(table_len)?;
        // The table fits in the buffer, so `count` is bounded by its length.
        let mut pairs = Vec::with_capacity(count);
        while !table.is_empty() {
            let (name_len, after) = read_u32(table)?;
            let (value_len, after) = read_u32(after)?;
            table = after;
            let (name, after) = nul_terminated(data, name_len)?;
            let (value, after) = nul_terminated(after, value_len)?;
            data = after;
            pairs.push((name, value));
        }
        data.is_empty().then_some(HeaderMap { pairs })
    }

    /// Every `(name, value)`, in order.
    pub fn pairs(&self) -> &[(&'a [u8], &'a [u8])] {
        &self.pairs
    }

    /// Headers held.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no header is held.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The headers as the full decision reads them (`host::request_headers`):
    /// names ASCII-lowercased, names and values as lossy UTF-8.
    pub fn to_owned_pairs(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .map(|(name, value)| {
                let name = match String::from_utf8_lossy(name) {
                    Cow::Borrowed(name) => name.to_ascii_lowercase(),
                    Cow::Owned(mut name) => {
                        name.make_ascii_lowercase();
                        name
                    }
                };
                (name, String::from_utf8_lossy(value).into_owned())
            })
            .collect()
    }
}

impl<'a> HeaderMap<'a> {
    /// The headers as text, borrowed: `Some` only when every name is lowercase
    /// UTF-8 and every value UTF-8, so they read exactly as
    /// [`HeaderMap::to_owned_pairs`] would copy them.
    pub fn borrowed_pairs(&self) -> Option<Vec<(&'a str, &'a str)>> {
        self.pairs
            .iter()
            .map(|(name, value)| {
                let name = std::str::from_utf8(name).ok()?;
                if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
                    return None;
                }
                Some((name, std::str::from_utf8(value).ok()?))
            })
            .collect()
    }
}

/// Whether header name `name` (bytes as sent), ASCII-lowercased, is `lowercase`:
/// what comparing a [`HeaderMap::to_owned_pairs`] name with `==` decides, without
/// lowercasing a copy.
pub fn name_is(name: &[u8], lowercase: &str) -> bool {
    name.len() == lowercase.len()
        && name
            .iter()
            .zip(lowercase.as_bytes())
            .all(|(byte, want)| byte.to_ascii_lowercase() == *want)
}

/// The wire form of `pairs` ([`HeaderMap::parse`] reads it back); `None` when a
/// length or the count does not fit in a `u32`.
pub fn serialize<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Option<Vec<u8>> {
    let mut table = Vec::with_capacity(pairs.len().checked_mul(8)?.checked_add(4)?);
    let mut data = Vec::new();
    table.extend_from_slice(&u32::try_from(pairs.len()).ok()?.to_le_bytes());
    for (name, value) in pairs {
        for part in [name.as_ref(), value.as_ref()] {
            table.extend_from_slice(&u32::try_from(part.len()).ok()?.to_le_bytes());
            data.extend_from_slice(part);
            data.push(0);
        }
    }
    table.extend_from_slice(&data);
    Some(table)
}

/// A little-endian `u32` (as a `usize`) and the bytes after it.
fn read_u32(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((usize::try_from(u32::from_le_bytes(*head)).ok()?, rest))
}

/// The first `len` bytes of `data`, which must be followed by a NUL, and the
/// bytes after that NUL.
fn nul_terminated(data: &[u8], len: usize) -> Option<(&[u8], &[u8])> {
    let (text, rest) = data.split_at_checked(len)?;
    let (&nul, rest) = rest.split_first()?;
    (nul == 0).then_some((text, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(pairs: &[(&str, &str)]) -> Vec<u8> {
        serialize(pairs).unwrap()
    }

    #[test]
    fn the_sdks_own_example_reads_back() {
        // proxy-wasm-rust-sdk's SERIALIZED_MAP test vector.
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            4, 0, 0, 0,
            7, 0, 0, 0, 3, 0, 0, 0,
            5, 0, 0, 0, 8, 0, 0, 0,
            10, 0, 0, 0, 11, 0, 0, 0,
            10, 0, 0, 0, 10, 0, 0, 0,
            58, 109, 101, 116, 104, 111, 100, 0, 71, 69, 84, 0,
            58, 112, 97, 116, 104, 0, 47, 98, 121, 116, 101, 115, 47, 49, 0,
            58, 97, 117, 116, 104, 111, 114, 105, 116, 121, 0,
            104, 116, 116, 112, 98, 105, 110, 46, 111, 114, 103, 0,
            80, 111, 119, 101, 114, 101, 100, 45, 66, 121, 0,
            112, 114, 111, 120, 121, 45, 119, 97, 115, 109, 0,
        ];
        let map = HeaderMap::parse(bytes).unwrap();
        let want: [(&[u8], &[u8]); 4] = [
            (b":method", b"GET"),
            (b":path", b"/bytes/1"),
            (b":authority", b"httpbin.org"),
            (b"Powered-By", b"proxy-wasm"),
        ];
        assert_eq!(map.pairs(), &want);
        assert_eq!(serialize(&want).unwrap(), bytes, "serialize is its inverse");
        assert_eq!(
            map.to_owned_pairs()[3],
            ("powered-by".into(), "proxy-wasm".into())
        );
    }

    #[test]
    fn round_trips_with_repeats_empty_parts_and_nul_free_bytes() {
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b"cookie", b"a=1"),
            (b"cookie", b""),
            (b"", b"x"),
            (b"x-bin", b"\xff\xfe ok"),
        ];
        let bytes = serialize(&pairs).unwrap();
        assert_eq!(HeaderMap::parse(&bytes).unwrap().pairs(), pairs.as_slice());
        assert!(HeaderMap::parse(&[]).unwrap().is_empty());
        assert!(HeaderMap::parse(&wire(&[])).unwrap().is_empty());
    }

    #[test]
    fn owned_pairs_are_what_the_host_glue_made() {
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b"Authorization", b"Bearer a.b.c"),
            (b"X_User", b"caf\xc3\xa9 \xff"),
            (b"N\xffAME", b"v"),
        ];
        let bytes = serialize(&pairs).unwrap();
        let owned = HeaderMap::parse(&bytes).unwrap().to_owned_pairs();
        assert_eq!(
            owned,
            vec![
                ("authorization".to_owned(), "Bearer a.b.c".to_owned()),
                ("x_user".to_owned(), "café \u{fffd}".to_owned()),
                ("n\u{fffd}ame".to_owned(), "v".to_owned()),
            ]
        );
    }

    #[test]
    fn anything_malformed_is_refused() {
        let good = wire(&[(":path", "/x"), ("a", "b")]);
        assert!(HeaderMap::parse(&good).is_some());
        // Every truncation of a good map, and every extension of it.
        for len in 1..good.len() {
            assert!(
                HeaderMap::parse(&good[..len]).is_none(),
                "truncated to {len}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(HeaderMap::parse(&longer).is_none(), "a byte left over");
        // A NUL replaced.
        let last = good.len() - 1;
        let mut no_nul = good.clone();
        no_nul[last] = b'x';
        assert!(HeaderMap::parse(&no_nul).is_none(), "missing final NUL");
        let mut shifted = good.clone();
        shifted[4] = 3; // ":path" said to be 3 bytes: the NUL is not where it says
        assert!(HeaderMap::parse(&shifted).is_none(), "length off");
        // A length past the end.
        let mut long_value = good.clone();
        long_value[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            HeaderMap::parse(&long_value).is_none(),
            "value past the end"
        );
        // Counts the buffer cannot hold, up to one whose table overflows.
        for count in [3u32, 1 << 29, u32::MAX / 8 + 1, u32::MAX] {
            let mut bad = good.clone();
            bad[..4].copy_from_slice(&count.to_le_bytes());
            assert!(HeaderMap::parse(&bad).is_none(), "count {count}");
        }
        let mut fewer = good.clone();
        fewer[..4].copy_from_slice(&1u32.to_le_bytes());
        assert!(
            HeaderMap::parse(&fewer).is_none(),
            "count short of the data"
        );
        for tiny in [&[0u8][..], &[0, 0, 0], &[1, 0, 0, 0], &[0, 0, 0, 0, 0]] {
            assert!(HeaderMap::parse(tiny).is_none(), "{tiny:?}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic spray (the fuzz target covers more).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let good = wire(&[
            (":method", "GET"),
            (":path", "/a"),
            ("authorization", "Bearer x"),
        ]);
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = good.clone();
            let at = (state as usize) % bytes.len();
            bytes[at] = (state >> 32) as u8;
            let cut = ((state >> 40) as usize) % (bytes.len() + 1);
            match HeaderMap::parse(&bytes[..cut]) {
                Some(map) if cut > 0 => {
                    assert_eq!(serialize(map.pairs()).unwrap(), &bytes[..cut])
                }
                _ => {}
            }
        }
    }

    #[test]
    fn name_is_compares_as_the_lowercased_copy_does() {
        assert!(name_is(b"Authorization", "authorization"));
        assert!(name_is(b"authorization", "authorization"));
        assert!(!name_is(b"authorization", "Authorization"), "as == would");
        assert!(!name_is(b"authorizatio", "authorization"));
        assert!(!name_is(b"x_user", "x-user"));
        assert!(!name_is(b"\xff", "\u{fffd}"));
    }
}
