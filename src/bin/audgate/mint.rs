//! `audgate mint`: a signed token with the claims given on the command line, to
//! try a configuration with `audgate verify` or against a running proxy. For
//! local testing only: the key is a file the user gives, or the public demo key
//! of `make run` (`tests/fixtures/keys/demo-1.der`, which anyone can read).

use base64::Engine;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use audgate::token::dpop::thumbprint::thumbprint;

use crate::flags::Flags;
use crate::signing_key::{read_key, Kind};

/// `audgate mint --help`.
pub const USAGE: &str = "\
usage: audgate mint (--key FILE [--alg ALG] [--kid KID] | --demo) [--iss ISS] [--aud AUD]...
                    [--sub SUB] [--scope SCOPE] [--ttl 1h] [--claim NAME=VALUE]...
                    [--typ TYP] [--cnf-x5t THUMBPRINT] [--dpop-key FILE] [--print-jwks]

FOR LOCAL TESTING ONLY: signs a token with the claims given here and prints it on
standard output, to try a configuration with 'audgate verify' or a proxy in front
of a test service. Tokens for real services come from their identity provider.

  --key FILE          the private key, PEM: RSA (BEGIN RSA PRIVATE KEY or PRIVATE
                      KEY), EC P-256 or P-384, or Ed25519 (BEGIN PRIVATE KEY, PKCS#8;
                      an EC PRIVATE KEY converts with
                      'openssl pkcs8 -topk8 -nocrypt -in FILE -out key.pem')
  --alg ALG           RS256 (RSA's default), RS384, RS512, PS256, PS384, PS512; ES256
                      (P-256), ES384 (P-384); EdDSA (Ed25519)
  --kid KID           the header's kid (none by default): the kid of the key's JWK
                      in the configuration's key set
  --demo              sign with the PUBLIC demo key of 'make run' and envoy/envoy.yaml
                      (RS256, kid demo-1), whose private half is in this repository
                      for anyone to read; defaults --iss https://issuer.demo.audgate.local,
                      --aud orders.demo.svc and --sub demo-user
  --iss ISS           the iss claim (required without --demo)
  --aud AUD           an audience; repeat for several (aud is then a list)
  --sub SUB           the sub claim
  --scope SCOPE       the scope claim, e.g. 'orders:read orders:write'
  --ttl DURATION      how long until exp: 90s, 10m, 1h (the default), 2d
  --claim NAME=VALUE  any claim; VALUE is read as JSON when it is JSON (5, true,
                      [\"a\",\"b\"], {\"roles\":[\"reader\"]}), else taken as a string.
                      NAME is a top-level claim; later flags win over earlier ones
  --typ TYP           the header's typ (default JWT), e.g. at+jwt
  --cnf-x5t THUMBPRINT
                      cnf: {\"x5t#S256\": THUMBPRINT}, a token bound to a client
                      certificate (RFC 8705)
  --dpop-key FILE     cnf: {\"jkt\": ...}, a token bound (RFC 9449) to this private
                      key (PEM, as --key): its DPoP proofs come from
                      'audgate dpop-proof --key FILE'
  --print-jwks        print the key's public JWKS instead of a token: the local_jwks
                      (or served key set) that verifies what this key signs

iat is now and exp now plus --ttl. The token alone goes to standard output, so
that $(audgate mint ...) is the token; a 'for local testing only' note goes to
standard error.";

/// The committed demo key (RSA 2048, PKCS#1 DER) that `make run` signs with: a
/// test fixture, public on purpose.
const DEMO_KEY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/keys/demo-1.der"
));
const DEMO_KID: &str = "demo-1";
const DEMO_ISSUER: &str = "https://issuer.demo.audgate.local";
const DEMO_AUDIENCE: &str = "orders.demo.svc";
const DEMO_SUBJECT: &str = "demo-user";

struct Options {
    key: Option<String>,
    demo: bool,
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    ttl_s: u64,
    print_jwks: bool,
    dpop_key: Option<String>,
    claims: Map<String, Value>,
    audiences: Vec<String>,
}

const SEE_HELP: &str = "'audgate mint --help' lists the options";

/// Runs the command.
pub fn run(args: &[String]) -> Result<bool, String> {
    let Some(options) = options(args)? else {
        outln!("{USAGE}");
        return Ok(true);
    };
    let (key, kind, kid, from) = match (&options.key, options.demo) {
        (Some(_), true) => return Err("mint takes either --key FILE or --demo, not both".into()),
        (None, false) => {
            return Err(format!(
                "mint needs a key: --key FILE (a PEM private key) or --demo (the public demo key); {SEE_HELP}"
            ))
        }
        (None, true) => (
            EncodingKey::from_rsa_der(DEMO_KEY),
            Kind::Rsa,
            Some(options.kid.clone().unwrap_or_else(|| DEMO_KID.into())),
            "the public demo key".to_owned(),
        ),
        (Some(path), false) => {
            let (key, kind) = read_key(path)?;
            (key, kind, options.kid.clone(), path.clone())
        }
    };
    let alg = match &options.alg {
        None => kind.default_alg(),
        Some(name) => {
            let alg = Algorithm::from_str(name)
                .ok()
                .or_else(|| (name == "Ed25519").then_some(Algorithm::EdDSA))
                .ok_or_else(|| {
                    format!(
                        "--alg {name}: not a JWS algorithm this key signs with ({})",
                        kind.algs()
                    )
                })?;
            if !kind.signs(alg) {
                return Err(format!(
                    "--alg {name}: this {} key signs with {}",
                    kind.name(),
                    kind.algs()
                ));
            }
            alg
        }
    };
    if options.print_jwks {
        let mut jwk = serde_json::to_value(
            Jwk::from_encoding_key(&key, alg).map_err(|e| format!("{from}: {e}"))?,
        )
        .map_err(|e| e.to_string())?;
        if let Some(kid) = &kid {
            jwk["kid"] = json!(kid);
        }
        jwk["use"] = json!("sig");
        let jwks = json!({ "keys": [jwk] });
        outln!(
            "{}",
            serde_json::to_string_pretty(&jwks).unwrap_or_default()
        );
        return Ok(true);
    }
    let mut claims = claims(&options)?;
    if let Some(path) = &options.dpop_key {
        let jkt = public_thumbprint(path)?;
        let mut cnf = claims.remove("cnf").unwrap_or_else(|| json!({}));
        match cnf.as_object_mut() {
            Some(members) => {
                members.insert("jkt".into(), json!(jkt));
            }
            None => return Err("--dpop-key: the cnf claim given is not an object".into()),
        }
        claims.insert("cnf".into(), cnf);
    }
    let mut header = Header::new(alg);
    header.kid = kid.clone();
    if let Some(typ) = &options.typ {
        header.typ = Some(typ.clone());
    }
    let token = jsonwebtoken::encode(&header, &Value::Object(claims), &key)
        .map_err(|e| format!("{from}: cannot sign with it as {alg:?}: {e}"))?;
    // What the token says of its expiry (a --claim exp= in place of --ttl).
    let expiry = match claims_exp(&token) {
        Some(exp) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let when = crate::time_text::relative(exp, now);
            if exp > now {
                format!("expires {when}")
            } else {
                format!("expired {when}")
            }
        }
        None => "no exp: never expires".to_owned(),
    };
    errln!(
        "audgate mint: for local testing only: signed with {from} ({alg:?}{}), {expiry}",
        kid.map(|kid| format!(", kid {kid}")).unwrap_or_default(),
    );
    outln!("{token}");
    Ok(true)
}

/// The command line; `None` for `--help`.
fn options(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        key: None,
        demo: false,
        alg: None,
        kid: None,
        typ: None,
        ttl_s: 3600,
        print_jwks: false,
        dpop_key: None,
        claims: Map::new(),
        audiences: Vec::new(),
    };
    let mut flags = Flags::free_values(args);
    while let Some(flag) = flags.next_flag() {
        let (name, inline) = (flag.name, flag.inline);
        let mut value = |what: &str| flags.value(&flag, what);
        match name {
            "-h" | "--help" => return Ok(None),
            "--key" => options.key = Some(value("FILE")?),
            "--demo" | "--print-jwks" if inline.is_some() => {
                return Err(format!("{name} takes no value"))
            }
            "--demo" => options.demo = true,
            "--print-jwks" => options.print_jwks = true,
            "--alg" => options.alg = Some(value("ALG")?),
            "--kid" => options.kid = Some(value("KID")?),
            "--typ" => options.typ = Some(value("TYP")?),
            "--ttl" => options.ttl_s = duration(&value("DURATION")?)?,
            "--iss" => {
                options.claims.insert("iss".into(), json!(value("ISS")?));
            }
            "--sub" => {
                options.claims.insert("sub".into(), json!(value("SUB")?));
            }
            "--scope" => {
                options
                    .claims
                    .insert("scope".into(), json!(value("SCOPE")?));
            }
            "--aud" => options.audiences.push(value("AUD")?),
            "--dpop-key" => options.dpop_key = Some(value("FILE")?),
            "--cnf-x5t" => {
                let thumbprint = value("THUMBPRINT")?;
                options
                    .claims
                    .insert("cnf".into(), json!({ "x5t#S256": thumbprint }));
            }
            "--claim" => {
                let pair = value("NAME=VALUE")?;
                let (name, text) = pair
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| {
                        format!("--claim {pair}: write NAME=VALUE, e.g. --claim tenant=acme")
                    })?;
                let value = serde_json::from_str(text).unwrap_or_else(|_| json!(text));
                options.claims.insert(name.to_owned(), value);
            }
            other => return Err(format!("unknown option {other} for mint; {SEE_HELP}")),
        }
    }
    Ok(Some(options))
}

/// The claims: `iat`, `exp`, the demo's defaults with `--demo`, then the flags.
fn claims(options: &Options) -> Result<Map<String, Value>, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut claims = Map::new();
    if options.demo {
        claims.insert("iss".into(), json!(DEMO_ISSUER));
        claims.insert("aud".into(), json!(DEMO_AUDIENCE));
        claims.insert("sub".into(), json!(DEMO_SUBJECT));
    }
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(options.ttl_s)));
    match options.audiences.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    // --claim and the named flags, in the order given (aud from --aud above
    // unless a --claim aud=... says otherwise).
    for (name, value) in &options.claims {
        claims.insert(name.clone(), value.clone());
    }
    for needed in ["iss", "aud"] {
        if !claims.contains_key(needed) {
            return Err(format!(
                "mint needs --{needed} (the configuration's provider checks it), or --demo for the demo's; {SEE_HELP}"
            ));
        }
    }
    Ok(claims)
}

/// `90s`, `10m`, `1h`, `2d` or plain seconds, more than 0.
fn duration(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(count) if count > 0 && scale > 0 => Ok(count.saturating_mul(scale)),
        _ => Err(format!(
            "--ttl {text}: write a duration such as 90s, 10m, 1h or 2d"
        )),
    }
}

/// The RFC 7638 thumbprint of the public half of the private key in `path`.
pub fn public_thumbprint(path: &str) -> Result<String, String> {
    let (key, kind) = read_key(path)?;
    let jwk = Jwk::from_encoding_key(&key, kind.default_alg())
        .map_err(|e| format!("{path}: {e}"))
        .and_then(|jwk| serde_json::to_value(jwk).map_err(|e| e.to_string()))?;
    jwk.as_object()
        .and_then(thumbprint)
        .ok_or_else(|| format!("{path}: no JWK thumbprint for this key"))
}

/// The `exp` of the token just signed, read back from its payload.
fn claims_exp(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}
