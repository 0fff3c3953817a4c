//! `audgate mint`: a signed token with the claims given on the command line, to
//! try a configuration with `audgate verify` or against a running proxy. For
//! local testing only: the key is a file the user gives, or the public demo key
//! of `make run` (`tests/fixtures/keys/demo-1.der`, which anyone can read).

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use crate::flags::Flags;

/// `audgate mint --help`.
pub const USAGE: &str = "\
usage: audgate mint (--key FILE [--alg ALG] [--kid KID] | --demo) [--iss ISS] [--aud AUD]...
                    [--sub SUB] [--scope SCOPE] [--ttl 1h] [--claim NAME=VALUE]...
                    [--typ TYP] [--cnf-x5t THUMBPRINT] [--print-jwks]

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

/// What kind of private key, which decides the algorithms it signs with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Kind {
    fn default_alg(self) -> Algorithm {
        match self {
            Kind::Rsa => Algorithm::RS256,
            Kind::P256 => Algorithm::ES256,
            Kind::P384 => Algorithm::ES384,
            Kind::Ed25519 => Algorithm::EdDSA,
        }
    }

    fn signs(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Kind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Kind::P256 => alg == ES256,
            Kind::P384 => alg == ES384,
            Kind::Ed25519 => alg == EdDSA,
        }
    }

    fn algs(self) -> &'static str {
        match self {
            Kind::Rsa => "RS256, RS384, RS512, PS256, PS384 or PS512",
            Kind::P256 => "ES256",
            Kind::P384 => "ES384",
            Kind::Ed25519 => "EdDSA",
        }
    }
}

struct Options {
    key: Option<String>,
    demo: bool,
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    ttl_s: u64,
    print_jwks: bool,
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
                    "--alg {name}: this {kind:?} key signs with {}",
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
    let claims = claims(&options)?;
    let mut header = Header::new(alg);
    header.kid = kid.clone();
    if let Some(typ) = &options.typ {
        header.typ = Some(typ.clone());
    }
    let token = jsonwebtoken::encode(&header, &Value::Object(claims), &key)
        .map_err(|e| format!("{from}: cannot sign with it as {alg:?}: {e}"))?;
    errln!(
        "audgate mint: for local testing only: signed with {from} ({alg:?}{}), expires in {}",
        kid.map(|kid| format!(", kid {kid}")).unwrap_or_default(),
        crate::time_text::relative(options.ttl_s as i64, 0).trim_start_matches("in ")
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

/// A PEM private key and its kind.
fn read_key(path: &str) -> Result<(EncodingKey, Kind), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--key {path}: {e}"))?;
    let label = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or_else(|| format!("--key {path}: not a PEM file (no -----BEGIN ...----- line)"))?;
    let pem = text.as_bytes();
    let bad = |e: jsonwebtoken::errors::Error| format!("--key {path}: not a usable {label}: {e}");
    match label {
        "RSA PRIVATE KEY" => Ok((EncodingKey::from_rsa_pem(pem).map_err(bad)?, Kind::Rsa)),
        "PRIVATE KEY" => {
            let der = pem_body(&text).ok_or_else(|| format!("--key {path}: its base64 is broken"))?;
            match pkcs8_kind(&der) {
                Some(Kind::Rsa) => Ok((EncodingKey::from_rsa_pem(pem).map_err(bad)?, Kind::Rsa)),
                Some(kind @ (Kind::P256 | Kind::P384)) => {
                    Ok((EncodingKey::from_ec_pem(pem).map_err(bad)?, kind))
                }
                Some(Kind::Ed25519) => {
                    Ok((EncodingKey::from_ed_pem(pem).map_err(bad)?, Kind::Ed25519))
                }
                None => Err(format!(
                    "--key {path}: a key mint does not sign with (RSA, EC P-256 or P-384, and Ed25519 keys are)"
                )),
            }
        }
        "EC PRIVATE KEY" => Err(format!(
            "--key {path}: an EC key in SEC1 form; convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in {path} -out key.pem"
        )),
        "ENCRYPTED PRIVATE KEY" => Err(format!(
            "--key {path}: encrypted; decrypt it first: openssl pkcs8 -in {path} -out key.pem"
        )),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => Err(format!(
            "--key {path}: a {label}, but signing needs the PRIVATE key"
        )),
        other => Err(format!(
            "--key {path}: a PEM {other}, not a private key"
        )),
    }
}

/// The DER bytes of the first PEM block of `text`.
fn pem_body(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END "))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).ok()
}

/// The kind of a PKCS#8 private key, from the algorithm OID (and curve) in it.
fn pkcs8_kind(der: &[u8]) -> Option<Kind> {
    // DER of the OIDs: rsaEncryption, id-ecPublicKey with prime256v1 or secp384r1, id-Ed25519.
    const RSA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    // The AlgorithmIdentifier comes right after the version, within the first bytes.
    let head = der.get(..der.len().min(32))?;
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    if has(RSA) {
        Some(Kind::Rsa)
    } else if has(EC) && has(P256) {
        Some(Kind::P256)
    } else if has(EC) && has(P384) {
        Some(Kind::P384)
    } else if has(ED25519) {
        Some(Kind::Ed25519)
    } else {
        None
    }
}
