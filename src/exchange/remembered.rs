//! Exchanged tokens remembered per worker, so a request to a destination reuses
//! the token exchanged for the same subject token there: an `oauth::remembered`
//! cache of access tokens, keyed by a digest of (subject token, destination),
//! each used until its `use_until` (`exchange::lifetime`).

use crate::oauth::remembered::Remembered;

/// A bounded map from (subject token, destination) digests to exchanged access
/// tokens (no `Debug`: it holds tokens).
pub type ExchangeCache = Remembered<String>;
