//! `audgate dpop-proof`: a DPoP proof (RFC 9449) for one request, signed with a
//! private key the user gives, to try a DPoP-bound token (`audgate mint
//! --dpop-key`) against a proxy with curl. For local testing only: real clients
//! make their own proofs.

use std::time::{SystemTime, UNIX_EPOCH};

use audgate::token::dpop::checks::token_hash;
use audgate::token::dpop::htu::normalise;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::Header;
use serde_json::{json, Map, Value};

use crate::flags::Flags;
use crate::signing_key::read_key;
use crate::token_argument;

/// `audgate dpop-proof --help`.
pub const USAGE: &str = "\
usage: audgate dpop-proof --key FILE --method METHOD --url URL [--token TOKEN]
                          [--nonce NONCE] [--alg ALG]

FOR LOCAL TESTING ONLY: makes a DPoP proof (RFC 9449) for one request and prints
it on standard output, for the request's DPoP header:

  curl -H \"Authorization: DPoP $TOKEN\" \\
       -H \"DPoP: $(audgate dpop-proof --key key.pem --method GET --url URL --token $TOKEN)\" URL

  --key FILE       the client's private key, PEM, as 'audgate mint --key' takes it;
                   a token bound to it comes from 'audgate mint --dpop-key FILE'
  --method METHOD  the request's method (htm), e.g. GET
  --url URL        the request's URL (htu: its query and fragment are left out)
  --token TOKEN    the access token the request carries (ath); '-' reads it from
                   standard input
  --nonce NONCE    the server's DPoP-Nonce, when it asks for one
  --alg ALG        the proof's alg, when the key signs with several (RSA: RS256 by
                   default, or PS256)

The proof is signed now (iat) with a fresh random jti: make a new one for every
request, as the proxy accepts each proof once.";

/// Runs the command.
pub fn run(args: &[String]) -> Result<bool, String> {
    let Some(options) = options(args)? else {
        outln!("{USAGE}");
        return Ok(true);
    };
    let (key, kind) = read_key(&options.key)?;
    let alg = match options.alg.as_deref() {
        None => kind.default_alg(),
        Some(name) => audgate::keys::jwks::algorithm_named(name)
            .filter(|alg| kind.signs(*alg))
            .ok_or_else(|| format!("--alg {name}: this {kind:?} key signs with {}", kind.algs()))?,
    };
    let jwk = Jwk::from_encoding_key(&key, alg).map_err(|e| format!("{}: {e}", options.key))?;
    let mut header = Header::new(alg);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(jwk);
    let proof = jsonwebtoken::encode(&header, &Value::Object(claims(&options)?), &key)
        .map_err(|e| format!("{}: cannot sign with it as {alg:?}: {e}", options.key))?;
    outln!("{proof}");
    Ok(true)
}

struct Options {
    key: String,
    method: String,
    url: String,
    token: Option<String>,
    nonce: Option<String>,
    alg: Option<String>,
}

const SEE_HELP: &str = "'audgate dpop-proof --help' lists the options";

/// The command line; `None` for `--help`.
fn options(args: &[String]) -> Result<Option<Options>, String> {
    let (mut key, mut method, mut url) = (None, None, None);
    let (mut token, mut nonce, mut alg) = (None, None, None);
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        let mut value = |what: &str| flags.value(&flag, what);
        match flag.name {
            "-h" | "--help" => return Ok(None),
            "--key" => key = Some(value("FILE")?),
            "--method" => method = Some(value("METHOD")?),
            "--url" => url = Some(value("URL")?),
            "--token" => token = Some(token_argument(&value("TOKEN")?)?),
            "--nonce" => nonce = Some(value("NONCE")?),
            "--alg" => alg = Some(value("ALG")?),
            other => return Err(format!("unknown option {other} for dpop-proof; {SEE_HELP}")),
        }
    }
    let needed = |value: Option<String>, flag: &str| {
        value.ok_or_else(|| format!("dpop-proof needs {flag}; {SEE_HELP}"))
    };
    let options = Options {
        key: needed(key, "--key FILE")?,
        method: needed(method, "--method METHOD")?,
        url: needed(url, "--url URL")?,
        token,
        nonce,
        alg,
    };
    if options.method.is_empty() || !options.method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "--method {}: write an HTTP method, e.g. GET",
            options.method
        ));
    }
    if normalise(&options.url).is_none() {
        return Err(format!(
            "--url {}: write the request's absolute http(s) URL, e.g. https://api.example.com/orders",
            options.url
        ));
    }
    Ok(Some(options))
}

/// `jti`, `htm`, `htu`, `iat`, and `ath` and `nonce` when given.
fn claims(options: &Options) -> Result<Map<String, Value>, String> {
    let mut jti = [0u8; 18];
    getrandom::fill(&mut jti).map_err(|e| format!("no randomness for the jti: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let htu = options.url.split(['?', '#']).next().unwrap_or_default();
    let mut claims = Map::new();
    claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
    claims.insert("htm".into(), json!(options.method));
    claims.insert("htu".into(), json!(htu));
    claims.insert("iat".into(), json!(now));
    if let Some(token) = &options.token {
        claims.insert("ath".into(), json!(token_hash(token)));
    }
    if let Some(nonce) = &options.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    Ok(claims)
}
