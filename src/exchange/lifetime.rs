//! How long an exchanged token is used. Its expiry is the earliest of the
//! answer's `expires_in`, its own `exp` and the subject token's `exp` (each when
//! known); it is used until that expiry less 30 seconds, or less half its life at
//! issue when that is shorter (a token issued for 36 s is used for 18 s). A token
//! whose expiry nothing states is used for its one request only.

use crate::token;
use crate::token::claims::expiry;

/// Largest margin kept before an exchanged token's expiry, seconds.
pub const MARGIN_S: i64 = 30;

/// Until when (Unix seconds, exclusive) the token issued at `now` is used for
/// later requests; `None`: not remembered at all.
pub fn use_until(
    now: i64,
    expires_in: Option<u64>,
    issued_exp: Option<i64>,
    subject_exp: Option<i64>,
) -> Option<i64> {
    let stated =
        expires_in.map(|seconds| now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)));
    let expiry = [stated, issued_exp, subject_exp]
        .into_iter()
        .flatten()
        .min()?;
    let life = expiry.checked_sub(now).filter(|life| *life > 0)?;
    // Half its life rounded up: a token of 1 s is not kept at all.
    let half = i64::try_from(life.unsigned_abs().div_ceil(2)).unwrap_or(i64::MAX);
    let until = expiry.saturating_sub(MARGIN_S.min(half));
    (until > now).then_some(until)
}

/// The `exp` a compact JWS states (unverified: only ever used to shorten a
/// lifetime); `None` for any other token.
pub fn stated_exp(raw: &str) -> Option<i64> {
    expiry(&token::parse(raw).ok()?.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn the_earliest_expiry_less_the_margin() {
        assert_eq!(use_until(NOW, Some(300), None, None), Some(NOW + 270));
        assert_eq!(
            use_until(NOW, Some(300), Some(NOW + 120), Some(NOW + 600)),
            Some(NOW + 90)
        );
        assert_eq!(
            use_until(NOW, Some(3600), Some(NOW + 3600), Some(NOW + 200)),
            Some(NOW + 170),
            "never past the subject token's exp"
        );
    }

    #[test]
    fn a_short_life_keeps_half_of_it() {
        assert_eq!(use_until(NOW, Some(36), None, None), Some(NOW + 18));
        assert_eq!(use_until(NOW, Some(60), None, None), Some(NOW + 30));
        assert_eq!(use_until(NOW, Some(1), None, None), None, "used once");
        assert_eq!(use_until(NOW, Some(3), None, None), Some(NOW + 1));
    }

    #[test]
    fn no_stated_or_a_past_expiry_is_not_remembered() {
        assert_eq!(use_until(NOW, None, None, None), None);
        assert_eq!(use_until(NOW, Some(0), None, None), None);
        assert_eq!(use_until(NOW, Some(300), Some(NOW - 1), None), None);
        assert_eq!(
            use_until(NOW, Some(u64::MAX), None, None),
            Some(i64::MAX - MARGIN_S)
        );
    }

    #[test]
    fn only_a_compact_jws_states_an_exp() {
        // {"alg":"none"} . {"exp":1700000100} . "sig"
        let jws = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAxMDB9.c2ln";
        assert_eq!(stated_exp(jws), Some(1_700_000_100));
        assert_eq!(stated_exp("opaque-token"), None);
    }
}
