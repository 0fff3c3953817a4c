//! What a refused token said about itself, made safe for a log line: `kid`,
//! `iss`, `aud`, `sub` and `azp`/`client_id` values, truncated, with control
//! characters replaced. Never the token, never its signature.

use std::fmt;

use serde_json::Value;

use crate::token;

/// Longest value kept; longer ones are cut and marked with `…`.
const MAX_VALUE: usize = 128;
/// Most `aud` values kept.
const MAX_AUDIENCES: usize = 8;

/// The loggable facts of an unverified token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFacts {
    /// Header `kid`.
    pub kid: Option<String>,
    /// Claim `iss`.
    pub iss: Option<String>,
    /// Claim `aud` strings (a string is one value).
    pub aud: Vec<String>,
    /// Claim `sub`.
    pub sub: Option<String>,
    /// Claim `azp`, else `client_id`: the OAuth client the token was issued to.
    pub client: Option<String>,
}

impl TokenFacts {
    /// Reads the facts of `raw`, if it parses as a JWS at all.
    pub fn read(raw: &str) -> Option<TokenFacts> {
        let parsed = token::parse(raw).ok()?;
        let aud = match parsed.claims.get("aud") {
            Some(Value::String(aud)) => vec![safe(aud)],
            Some(Value::Array(list)) => list
                .iter()
                .take(MAX_AUDIENCES)
                .map(|entry| entry.as_str().map_or_else(|| entry.to_string(), safe))
                .map(|text| safe(&text))
                .collect(),
            _ => Vec::new(),
        };
        let text = |name: &str| parsed.claims.get(name).and_then(Value::as_str).map(safe);
        Some(TokenFacts {
            kid: parsed.header.kid.as_deref().map(safe),
            iss: text("iss"),
            aud,
            sub: text("sub"),
            client: text("azp").or_else(|| text("client_id")),
        })
    }
}

/// `value` cut to [`MAX_VALUE`] characters, control characters (NEL among them),
/// Unicode line and paragraph separators, bidi controls and quotes replaced:
/// safe inside a quoted log value, which no reader splits or shows reordered.
pub fn safe(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(MAX_VALUE)
        .map(|c| if unsafe_in_log(c) { '_' } else { c })
        .collect();
    if value.chars().nth(MAX_VALUE).is_some() {
        out.push('…');
    }
    out
}

/// Whether `c` could shape a log line: a control character (C0, DEL, C1 with
/// U+0085 NEL), U+2028/U+2029 (line and paragraph separators), a bidi mark,
/// embedding, override or isolate (U+061C, U+200E/U+200F, U+202A–U+202E,
/// U+2066–U+2069), or `"`.
fn unsafe_in_log(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '"' | '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

impl fmt::Display for TokenFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
        write!(
            f,
            "kid=\"{}\" iss=\"{}\" aud=[{}] sub=\"{}\" client=\"{}\"",
            or_none(&self.kid),
            or_none(&self.iss),
            self.aud
                .iter()
                .map(|aud| format!("\"{aud}\""))
                .collect::<Vec<_>>()
                .join(","),
            or_none(&self.sub),
            or_none(&self.client),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_kid_iss_and_aud_without_the_signature() {
        let raw = token(
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"iss":"https://i","aud":["a","b"],"sub":"alice","client_id":"web"}"#,
        );
        let facts = TokenFacts::read(&raw).unwrap();
        let line = facts.to_string();
        assert_eq!(
            line,
            r#"kid="k1" iss="https://i" aud=["a","b"] sub="alice" client="web""#
        );
        assert!(!line.contains("c2lnbmF0dXJl"));
    }

    #[test]
    fn values_cannot_shape_the_log_line() {
        let long = "x".repeat(500);
        let raw = token(
            &format!(r#"{{"alg":"RS256","kid":"a\nb\"c{long}"}}"#),
            r#"{"aud":"payments"}"#,
        );
        let facts = TokenFacts::read(&raw).unwrap();
        let kid = facts.kid.unwrap();
        assert!(kid.starts_with("a_b_c"));
        assert!(kid.chars().count() <= MAX_VALUE + 1);
        assert_eq!(facts.aud, vec!["payments".to_owned()]);
        assert_eq!(TokenFacts::read("garbage"), None);
    }
    /// Issue 21, finding 10: line separators, NEL and bidi controls never reach
    /// a log line raw.
    #[test]
    fn line_separators_and_bidi_controls_are_replaced() {
        let shaping = [
            '\u{85}', '\u{2028}', '\u{2029}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}',
            '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}',
        ];
        for c in shaping {
            assert_eq!(safe(&format!("a{c}b")), "a_b", "U+{:04X}", u32::from(c));
        }
        assert_eq!(
            safe("caf\u{e9} \u{4e2d}\u{200d}"),
            "caf\u{e9} \u{4e2d}\u{200d}"
        );
        let raw = token(
            r#"{"alg":"RS256"}"#,
            r#"{"sub":"eve\u2028audgate: allowed (corp)","azp":"\u202eweb"}"#,
        );
        let facts = TokenFacts::read(&raw).unwrap();
        assert_eq!(facts.sub.as_deref(), Some("eve_audgate: allowed (corp)"));
        assert_eq!(facts.client.as_deref(), Some("_web"));
    }
}
