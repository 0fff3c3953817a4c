//! `audgate verify --config FILE [--jwks FILE|URL] TOKEN`: runs the filter's own
//! decision code on one request and prints what the filter would answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audgate::config::{Config, KeySource};
use audgate::decision::{decide, KeyStore, Verifier};
use audgate::extract::Request;
use audgate::jwks::{parse_jwks_bytes, KeySet, Origin};
use audgate::verify::RustCrypto;

use crate::{plugin_file, token_argument};

/// Options of the command.
struct Options {
    config: String,
    jwks: Option<String>,
    method: String,
    path: String,
    authority: String,
    token: String,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        config: String::new(),
        jwks: None,
        method: "GET".into(),
        path: "/".into(),
        authority: "localhost".into(),
        token: String::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--config" => options.config = value()?,
            "--jwks" => options.jwks = Some(value()?),
            "--method" => options.method = value()?,
            "--path" => options.path = value()?,
            "--authority" => options.authority = value()?,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            token if options.token.is_empty() => options.token = token_argument(token)?,
            _ => return Err("verify takes one TOKEN".into()),
        }
    }
    if options.config.is_empty() || options.token.is_empty() {
        return Err("verify needs --config FILE and a TOKEN".into());
    }
    Ok(options)
}

/// Keys from the config, with `--jwks` standing in for every remote provider.
struct CliKeys<'a> {
    config: &'a Config,
    remote: Option<KeySet>,
}

impl KeyStore for CliKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.config.providers.get(provider)?.keys {
            KeySource::Local(set) => Some(set),
            KeySource::Remote(_) => self.remote.as_ref(),
        }
    }
}

/// Runs the command; `Ok(false)` when the filter would refuse the request.
pub fn run(args: &[String]) -> Result<bool, String> {
    let options = options(args)?;
    let found = plugin_file::read(&options.config)?;
    let [first, ..] = found.as_slice() else {
        return Err("no configuration found".into());
    };
    if found.len() > 1 {
        eprintln!(
            "audgate: {} configurations in the file; using {}",
            found.len(),
            first.label
        );
    }
    let config =
        Config::from_json(first.json.as_bytes()).map_err(|e| format!("{}: {e}", first.label))?;
    let remote = match &options.jwks {
        None => None,
        Some(source) => {
            let body = load(source)?;
            let parsed =
                parse_jwks_bytes(&body, Origin::Remote).map_err(|e| format!("{source}: {e}"))?;
            for skipped in &parsed.skipped {
                eprintln!(
                    "audgate: {source}: key {} skipped: {}",
                    skipped.index, skipped.reason
                );
            }
            Some(parsed.set)
        }
    };
    let headers = vec![
        (":method".to_owned(), options.method.clone()),
        (":path".to_owned(), options.path.clone()),
        (":authority".to_owned(), options.authority.clone()),
        (
            "authorization".to_owned(),
            format!("Bearer {}", options.token),
        ),
    ];
    let request = Request {
        method: &options.method,
        path: &options.path,
        authority: &options.authority,
        headers: &headers,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let keys = CliKeys {
        config: &config,
        remote,
    };
    let decision = decide(
        &config,
        &request,
        &Verifier {
            keys: &keys,
            signatures: &RustCrypto,
            cache: None,
            now,
        },
    );
    let provider = decision
        .provider
        .and_then(|index| config.providers.get(index))
        .map_or("-".to_owned(), |p| p.name.clone());
    match decision.verdict {
        Ok(()) => {
            println!("200 allowed (provider {provider}): the request goes upstream");
            for name in &decision.mutations.remove_headers {
                println!("  removes {name}");
            }
            for (name, value) in &decision.mutations.set_headers {
                println!("  sets {name}: {value}");
            }
            Ok(true)
        }
        Err(rejection) => {
            println!(
                "{} refused (provider {provider}): {rejection} [{}]",
                rejection.status(),
                rejection.code()
            );
            if let Some(challenge) = rejection.www_authenticate(&options.authority) {
                println!("  www-authenticate: {challenge}");
            }
            if let Some(facts) = &decision.facts {
                println!("  token: {facts}");
            }
            Ok(false)
        }
    }
}

/// A JWKS from a file, or from an `http://` URL.
fn load(source: &str) -> Result<Vec<u8>, String> {
    let Some(rest) = source.strip_prefix("http://") else {
        if source.starts_with("https://") {
            return Err("https URLs are not fetched: download the JWKS and pass the file".into());
        }
        return std::fs::read(source).map_err(|e| format!("{source}: {e}"));
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(&address).map_err(|e| format!("{source}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {authority}\r\naccept: application/json\r\nconnection: close\r\n\r\n")
        .map_err(|e| format!("{source}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("{source}: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(format!("{source}: no HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "{source}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(format!(
            "{source}: chunked responses are not read; download the JWKS and pass the file"
        ));
    }
    Ok(response[split + 4..].to_vec())
}
