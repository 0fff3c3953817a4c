//! Keys and tokens for `make bench` (tests/bench/bench.py).
//!
//! ```text
//! bench_tokens jwks
//!     the public JWKS of the bench keys (rsa-1 for RS256, ec256-1 for ES256), one line
//! bench_tokens tokens <RS256|ES256> <count> <issuer> <audience> <ttl_s>
//!     <count> distinct tokens, one a line: each has its own `sub` and `jti`,
//!     `iat` now and `exp` now + ttl_s
//! bench_tokens attack-jwks
//!     four RSA-2048 public keys without `alg` (so each may verify PS512), as in
//!     the CPU-burn finding, and the bench EC key; the fourth RSA key reuses
//!     rsa-1's modulus under its own kid (a forgery costs the same against it)
//! bench_tokens forged <count> <issuer> <audience> <ttl_s>
//!     <count> distinct kid-less `{"alg":"PS512"}` forgeries: the right iss, aud
//!     and exp, and 256 bytes of noise as the signature
//! bench_tokens malformed <count>
//!     <count> distinct tokens whose payload is not JSON (refused before any key)
//! bench_tokens dpop <ES256|EdDSA> <variant> <clients> <first> <count> <issuer> <audience> <ttl_s> <htu>
//!     <count> lines `TOKEN PROOF`: ES256 tokens bound (`cnf.jkt`) to <clients>
//!     client keys and a DPoP proof (GET <htu>) that no other line repeats, signed
//!     with the proof alg; <variant> good, or what is wrong: typ, htu, ath, jkt
//!     (another key signs), malformed-token or forged-token (dpop.rs)
//! ```

mod dpop;
#[allow(dead_code)]
#[path = "../../tests/support/keys.rs"]
mod keys;

use keys::TestKey;
use serde_json::json;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// The keys in the bench JWKS, in order.
const KEYS: [TestKey; 2] = [TestKey::Rsa1, TestKey::Ec256];

const USAGE: &str = "usage: bench_tokens jwks\n       \
                     bench_tokens tokens <RS256|ES256> <count> <issuer> <audience> <ttl_s>\n       \
                     bench_tokens attack-jwks\n       \
                     bench_tokens forged <count> <issuer> <audience> <ttl_s>\n       \
                     bench_tokens malformed <count>\n       \
                     bench_tokens dpop <ES256|EdDSA> <variant> <clients> <first> <count> \
                     <issuer> <audience> <ttl_s> <htu>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["jwks"] => print_jwks(),
        ["tokens", alg, count, issuer, audience, ttl] => {
            print_tokens(alg, count, issuer, audience, ttl)
        }
        ["attack-jwks"] => print_attack_jwks(),
        ["forged", count, issuer, audience, ttl] => print_forged(count, issuer, audience, ttl),
        ["malformed", count] => print_malformed(count),
        ["dpop", rest @ ..] => match <[&str; 9]>::try_from(rest) {
            Ok(args) => dpop::print(args),
            Err(_) => Err(USAGE.to_string()),
        },
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_tokens: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_jwks() -> Result<(), String> {
    println!("{}", keys::jwks(&KEYS));
    Ok(())
}

fn print_tokens(alg: &str, count: &str, issuer: &str, aud: &str, ttl: &str) -> Result<(), String> {
    let key = KEYS
        .into_iter()
        .find(|key| key.default_alg() == alg)
        .ok_or_else(|| format!("alg {alg:?}: expected RS256 or ES256"))?;
    let count: u32 = count.parse().map_err(|e| format!("count {count:?}: {e}"))?;
    let ttl: u64 = ttl.parse().map_err(|e| format!("ttl_s {ttl:?}: {e}"))?;
    let now = keys::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for n in 0..count {
        let claims = json!({
            "iss": issuer,
            "aud": aud,
            "sub": format!("bench-user-{n}"),
            "jti": format!("bench-{alg}-{n}"),
            "iat": now,
            "exp": now + ttl,
        });
        writeln!(out, "{}", keys::sign_default(key, claims)).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn print_attack_jwks() -> Result<(), String> {
    // Without `alg`: an RSA key then serves every RS* and PS* algorithm, as keys
    // published without `alg` do.
    let mut copy = keys::jwk(TestKey::Rsa1);
    copy["kid"] = json!("rsa-1-copy");
    let mut list: Vec<serde_json::Value> = [KEYS[0], TestKey::Rsa2, TestKey::Demo]
        .into_iter()
        .map(keys::jwk)
        .chain([copy])
        .collect();
    for key in &mut list {
        key.as_object_mut()
            .ok_or("jwk: not an object")?
            .remove("alg");
    }
    list.push(keys::jwk(KEYS[1]));
    println!("{}", json!({ "keys": list }));
    Ok(())
}

fn print_forged(count: &str, issuer: &str, aud: &str, ttl: &str) -> Result<(), String> {
    let count: u32 = count.parse().map_err(|e| format!("count {count:?}: {e}"))?;
    let ttl: u64 = ttl.parse().map_err(|e| format!("ttl_s {ttl:?}: {e}"))?;
    let now = keys::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for n in 0..count {
        let claims =
            json!({"iss": issuer, "aud": aud, "jti": format!("forged-{n}"), "exp": now + ttl});
        // Noise that differs per token (no RNG needed: forgeries need not be random).
        let noise: Vec<u8> = (0..256u32)
            .map(|i| (i.wrapping_mul(31) ^ n.wrapping_mul(131)).to_le_bytes()[0])
            .collect();
        let signature = keys::b64(&noise);
        let token = keys::sign_raw(
            json!({"alg": "PS512"}),
            claims,
            keys::Signer::Literal(&signature),
        );
        writeln!(out, "{token}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn print_malformed(count: &str) -> Result<(), String> {
    let count: u32 = count.parse().map_err(|e| format!("count {count:?}: {e}"))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for n in 0..count {
        let token = keys::sign_text(
            r#"{"alg":"RS256","kid":"rsa-1"}"#,
            &format!("not json {n}"),
            keys::Signer::Literal("c2lnbmF0dXJl"),
        );
        writeln!(out, "{token}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
