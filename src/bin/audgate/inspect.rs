//! `audgate inspect TOKEN`: the header and claims of a token, decoded but NOT
//! verified, with its times as dates and relative to now (`exchange` prints the
//! token it was issued so too).

use std::time::{SystemTime, UNIX_EPOCH};

use audgate::token;
use audgate::token::strict_json::parse_object;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::time_text::{relative, utc};
use crate::token_argument;

/// Runs the command; `Ok(false)` when the token is not a well-formed JWS.
pub fn run(args: &[String]) -> Result<bool, String> {
    let [arg] = args else {
        return Err("inspect takes one TOKEN".into());
    };
    let raw = token_argument(arg)?;
    Ok(print_decoded(
        &raw,
        "UNVERIFIED: decoded only; neither signature nor claims are checked here",
    ))
}

/// Prints `heading`, then `raw`'s header, claims, times and signature size,
/// decoded only; when it is not a well-formed JWS, says so instead and is false.
pub fn print_decoded(raw: &str, heading: &str) -> bool {
    let parsed = match token::parse(raw) {
        Ok(parsed) => parsed,
        Err(error) => {
            outln!("not a well-formed JWS: {error}");
            return false;
        }
    };
    let header = raw
        .split('.')
        .next()
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|json| parse_object(&json).ok())
        .unwrap_or_default();
    outln!("{heading}");
    outln!("header:\n{}", pretty(&header));
    outln!("claims:\n{}", pretty(&parsed.claims));
    let now = now();
    let times: Vec<(&str, i64)> = ["iat", "nbf", "exp"]
        .into_iter()
        .filter_map(|name| Some((name, parsed.claims.get(name)?.as_f64()?.floor() as i64)))
        .collect();
    if !times.is_empty() {
        outln!("times:");
        for (name, at) in times {
            outln!("  {name}  {}  ({})", utc(at), relative(at, now));
        }
    }
    outln!("signature: {} bytes (not shown)", parsed.signature.len());
    true
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn pretty(map: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(map).unwrap_or_default()
}
