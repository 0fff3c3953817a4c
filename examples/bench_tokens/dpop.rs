//! DPoP loads for `make bench`: ES256 tokens bound to client keys (`cnf.jkt`) and,
//! per line, one proof no other line repeats, so a replay store never refuses
//! the load (RFC 9449).

use crate::keys::{self, TestKey};
use audgate::token::dpop::checks::token_hash;
use audgate::token::dpop::thumbprint::thumbprint;
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};

/// What a line's proof (or token) gets wrong, if anything.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// A bound token and its proof: accepted once.
    Good,
    /// `typ` is `jwt`.
    Typ,
    /// `htu` names another origin.
    Htu,
    /// `ath` is another token's hash.
    Ath,
    /// Signed by another client's key than the token is bound to.
    Jkt,
    /// The token's payload is not JSON (its proof is right for it).
    MalformedToken,
    /// The token's signature is noise: no provider vouches for it (its proof is
    /// right for it).
    ForgedToken,
}

impl Variant {
    fn named(name: &str) -> Result<Self, String> {
        Ok(match name {
            "good" => Self::Good,
            "typ" => Self::Typ,
            "htu" => Self::Htu,
            "ath" => Self::Ath,
            "jkt" => Self::Jkt,
            "malformed-token" => Self::MalformedToken,
            "forged-token" => Self::ForgedToken,
            _ => {
                return Err(format!(
                    "variant {name:?}: expected good, typ, htu, ath, jkt, malformed-token or \
                     forged-token"
                ))
            }
        })
    }
}

/// A client's proof key, derived from its number (the bench needs no randomness).
enum ClientKey {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl ClientKey {
    fn new(alg: &str, n: u32) -> Result<Self, String> {
        let seed: [u8; 32] = Sha256::digest(format!("audgate bench dpop client {alg} {n}")).into();
        match alg {
            "ES256" => p256::ecdsa::SigningKey::from_slice(&seed)
                .map(Self::P256)
                .map_err(|_| format!("client {n}: seed is not a P-256 scalar")),
            "EdDSA" => Ok(Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))),
            _ => Err(format!("proof alg {alg:?}: expected ES256 or EdDSA")),
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::P256(_) => "ES256",
            Self::Ed25519(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match self {
            Self::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let (x, y) = (
                    point.x().map(|x| keys::b64(x)),
                    point.y().map(|y| keys::b64(y)),
                );
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": y})
            }
            Self::Ed25519(key) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": keys::b64(key.verifying_key().as_bytes())
            }),
        }
    }

    fn sign(&self, input: &str) -> Vec<u8> {
        match self {
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
                signature.to_bytes().to_vec()
            }
            Self::Ed25519(key) => key.sign(input.as_bytes()).to_bytes().to_vec(),
        }
    }
}

/// One client: its key, public JWK and the token bound to it.
struct Client {
    key: ClientKey,
    jwk: Value,
    token: String,
}

/// Where the lines' tokens come from and what their proofs name.
pub struct Load<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub ttl_s: u64,
    pub htu: &'a str,
}

/// `bench_tokens dpop <ES256|EdDSA> <variant> <clients> <first> <count> <issuer>
/// <audience> <ttl_s> <htu>`: `count` lines `TOKEN PROOF`, line n (from `first`) by
/// client n mod `clients`, its proof's `jti` naming the variant and n.
pub fn print(args: [&str; 9]) -> Result<(), String> {
    let [alg, variant, clients, first, count, issuer, audience, ttl, htu] = args;
    let variant = Variant::named(variant)?;
    let clients: u32 = number("clients", clients)?;
    let first: u32 = number("first", first)?;
    let count: u32 = number("count", count)?;
    let load = Load {
        issuer,
        audience,
        ttl_s: number("ttl_s", ttl)?,
        htu,
    };
    if clients == 0 {
        return Err("clients: at least 1".into());
    }
    let clients: Vec<Client> = (0..clients)
        .map(|n| client(alg, n, variant, &load))
        .collect::<Result<_, _>>()?;
    let stranger = ClientKey::new(alg, u32::MAX)?;
    let now = keys::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for n in first..first.saturating_add(count) {
        let index = usize::try_from(n % clients.len() as u32).map_err(|e| e.to_string())?;
        let client = clients.get(index).ok_or("no client")?;
        let proof = proof(client, &stranger, variant, n, now, &load);
        writeln!(out, "{} {proof}", client.token).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name} {text:?}: expected a whole number"))
}

fn client(alg: &str, n: u32, variant: Variant, load: &Load) -> Result<Client, String> {
    let key = ClientKey::new(alg, n)?;
    let jwk = key.jwk();
    let jkt = jwk
        .as_object()
        .and_then(thumbprint)
        .ok_or("client jwk: no thumbprint")?;
    let now = keys::now();
    let claims = json!({
        "iss": load.issuer, "aud": load.audience, "sub": format!("bench-dpop-client-{n}"),
        "iat": now, "exp": now + load.ttl_s, "cnf": {"jkt": jkt},
    });
    let token = match variant {
        Variant::MalformedToken => keys::sign_text(
            r#"{"alg":"ES256","kid":"ec256-1"}"#,
            &format!("not json {n}"),
            keys::Signer::Literal("c2lnbmF0dXJl"),
        ),
        Variant::ForgedToken => keys::sign_raw(
            json!({"alg": "ES256", "kid": TestKey::Ec256.kid()}),
            claims,
            keys::Signer::Literal(&keys::b64(&[n.to_le_bytes()[0]; 64])),
        ),
        _ => keys::sign_default(TestKey::Ec256, claims),
    };
    Ok(Client { key, jwk, token })
}

fn proof(
    client: &Client,
    stranger: &ClientKey,
    variant: Variant,
    n: u32,
    now: u64,
    load: &Load,
) -> String {
    let (key, jwk) = match variant {
        Variant::Jkt => (stranger, stranger.jwk()),
        _ => (&client.key, client.jwk.clone()),
    };
    let typ = if variant == Variant::Typ {
        "jwt"
    } else {
        "dpop+jwt"
    };
    let header = json!({"typ": typ, "alg": key.alg(), "jwk": jwk});
    let htu = if variant == Variant::Htu {
        "https://elsewhere.bench.audgate.local/"
    } else {
        load.htu
    };
    let ath = match variant {
        Variant::Ath => token_hash("another token"),
        _ => token_hash(&client.token),
    };
    let claims = json!({
        "jti": format!("bench-{}-{n}", key.alg()), "htm": "GET", "htu": htu, "iat": now, "ath": ath,
    });
    let input = format!(
        "{}.{}",
        keys::b64(header.to_string().as_bytes()),
        keys::b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", keys::b64(&key.sign(&input)))
}
