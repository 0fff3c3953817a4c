//! Keys and tokens for `make bench` (tests/bench/bench.py).
//!
//! ```text
//! bench_tokens jwks
//!     the public JWKS of the bench keys (rsa-1 for RS256, ec256-1 for ES256), one line
//! bench_tokens tokens <RS256|ES256> <count> <issuer> <audience> <ttl_s>
//!     <count> distinct tokens, one a line: each has its own `sub` and `jti`,
//!     `iat` now and `exp` now + ttl_s
//! ```

#[allow(dead_code)]
#[path = "../tests/support/keys.rs"]
mod keys;

use keys::TestKey;
use serde_json::json;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// The keys in the bench JWKS, in order.
const KEYS: [TestKey; 2] = [TestKey::Rsa1, TestKey::Ec256];

const USAGE: &str = "usage: bench_tokens jwks\n       \
                     bench_tokens tokens <RS256|ES256> <count> <issuer> <audience> <ttl_s>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["jwks"] => print_jwks(),
        ["tokens", alg, count, issuer, audience, ttl] => {
            print_tokens(alg, count, issuer, audience, ttl)
        }
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
