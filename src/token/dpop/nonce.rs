//! Stateless server nonces (RFC 9449 §8): a nonce is the second it was issued
//! and a MAC over it with the secret every proxy of a service is given, so any
//! of them accepts any other's, and none keeps state. A nonce stays current for
//! the configured lifetime; past half of it, a fresh one is offered on the
//! response (§8.2) so clients rarely pay a round trip for a new one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What separates these MACs from any other use of the secret.
const CONTEXT: &[u8] = b"audgate dpop nonce v1";
/// Bytes of the MAC kept in a nonce.
const MAC_BYTES: usize = 16;

/// The nonce secret and lifetime (no `Debug`: it holds the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Nonces {
    secret: Vec<u8>,
    lifetime_s: i64,
}

/// A proof's nonce, judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceVerdict {
    /// Current; past half its life when `stale`, so a fresh one is offered.
    Current {
        /// Past half its life.
        stale: bool,
    },
    /// None given, not one of ours, expired or from the future.
    NotCurrent,
}

impl Nonces {
    /// Nonces under `secret`, each current for `lifetime_s` seconds.
    pub fn new(secret: Vec<u8>, lifetime_s: u32) -> Nonces {
        Nonces {
            secret,
            lifetime_s: i64::from(lifetime_s.max(1)),
        }
    }

    /// The nonce issued at `now` (Unix seconds).
    pub fn issue(&self, now: i64) -> String {
        let issued = now.to_be_bytes();
        let mut nonce = issued.to_vec();
        if let Some(mac) = self.mac_over(&issued) {
            let tag = mac.finalize().into_bytes();
            nonce.extend_from_slice(tag.get(..MAC_BYTES).unwrap_or_default());
        }
        URL_SAFE_NO_PAD.encode(nonce)
    }

    /// Whether `nonce` is current at `now`, allowing a proxy whose clock runs
    /// up to `skew_s` ahead of this one.
    pub fn judge(&self, nonce: Option<&str>, now: i64, skew_s: i64) -> NonceVerdict {
        let Some(bytes) = nonce.and_then(|nonce| URL_SAFE_NO_PAD.decode(nonce).ok()) else {
            return NonceVerdict::NotCurrent;
        };
        let (Some(issued), Some(tag)) = (bytes.get(..8), bytes.get(8..)) else {
            return NonceVerdict::NotCurrent;
        };
        let Some(mac) = self.mac_over(issued) else {
            return NonceVerdict::NotCurrent;
        };
        if tag.len() != MAC_BYTES || mac.verify_truncated_left(tag).is_err() {
            return NonceVerdict::NotCurrent;
        }
        let issued = <[u8; 8]>::try_from(issued).map_or(i64::MIN, i64::from_be_bytes);
        let age = now.saturating_sub(issued);
        if age < skew_s.max(0).saturating_neg() || age >= self.lifetime_s {
            return NonceVerdict::NotCurrent;
        }
        NonceVerdict::Current {
            stale: age.saturating_mul(2) >= self.lifetime_s,
        }
    }

    /// The MAC under the secret over the context and `issued`, not finalised.
    fn mac_over(&self, issued: &[u8]) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(CONTEXT);
        mac.update(issued);
        Some(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    fn nonces() -> Nonces {
        Nonces::new(SECRET.to_vec(), 300)
    }

    #[test]
    fn a_nonce_is_current_for_its_lifetime_and_stale_past_half() {
        let nonce = nonces().issue(NOW);
        let judge = |now| nonces().judge(Some(&nonce), now, 5);
        assert_eq!(judge(NOW), NonceVerdict::Current { stale: false });
        assert_eq!(judge(NOW + 149), NonceVerdict::Current { stale: false });
        assert_eq!(judge(NOW + 150), NonceVerdict::Current { stale: true });
        assert_eq!(judge(NOW + 299), NonceVerdict::Current { stale: true });
        assert_eq!(judge(NOW + 300), NonceVerdict::NotCurrent);
    }

    #[test]
    fn another_proxy_with_the_secret_accepts_it_one_with_another_does_not() {
        let nonce = nonces().issue(NOW);
        let same = Nonces::new(SECRET.to_vec(), 300);
        assert_eq!(
            same.judge(Some(&nonce), NOW + 1, 5),
            NonceVerdict::Current { stale: false }
        );
        let other = Nonces::new(b"another secret of 32 bytes or so!".to_vec(), 300);
        assert_eq!(
            other.judge(Some(&nonce), NOW + 1, 5),
            NonceVerdict::NotCurrent
        );
    }

    #[test]
    fn a_clock_ahead_by_the_skew_is_allowed_further_is_not() {
        let ahead = nonces().issue(NOW + 5);
        assert_eq!(
            nonces().judge(Some(&ahead), NOW, 5),
            NonceVerdict::Current { stale: false }
        );
        let further = nonces().issue(NOW + 6);
        assert_eq!(
            nonces().judge(Some(&further), NOW, 5),
            NonceVerdict::NotCurrent
        );
    }

    #[test]
    fn a_forged_or_garbled_nonce_is_not_current() {
        let nonce = nonces().issue(NOW);
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        bytes[7] ^= 1; // another second, the same MAC
        let moved = URL_SAFE_NO_PAD.encode(&bytes);
        for bad in [
            None,
            Some(""),
            Some("x"),
            Some("not base64!"),
            Some(moved.as_str()),
        ] {
            assert_eq!(
                nonces().judge(bad, NOW, 5),
                NonceVerdict::NotCurrent,
                "{bad:?}"
            );
        }
        let truncated = &nonce[..nonce.len() - 2];
        assert_eq!(
            nonces().judge(Some(truncated), NOW, 5),
            NonceVerdict::NotCurrent
        );
    }
}
