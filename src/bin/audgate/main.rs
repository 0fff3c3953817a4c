//! `audgate`: the filter's decision code on the command line.
//!
//! ```text
//! audgate check-config [--node KEY=VALUE]... FILE...
//!                                           validate plugin configs (JSON, Istio WasmPlugin YAML, envoy.yaml)
//! audgate inspect TOKEN                     decode a token WITHOUT verifying it
//! audgate verify --config FILE [--jwks FILE|URL] [--cacert FILE] [--method M] [--path P]
//!                [--authority A] [--url URL] [--header 'NAME: VALUE']... [--dpop PROOF]
//!                [TOKEN | --no-token]
//!                                           what the filter would do with the request
//! audgate exchange --config FILE --token TOKEN (--host HOST[:PORT] | --cluster NAME)
//!                  [--path PATH] [--sts URL] [--cacert FILE]
//!                                           one outbound token exchange, as the filter makes it
//! audgate mint (--key FILE | --demo) --iss ISS --aud AUD [...]
//!                                           sign a token, for local testing only
//! audgate dpop-proof --key FILE --method METHOD --url URL [--token T] [--nonce N]
//!                                           a DPoP proof for one request, for local testing only
//! audgate --version
//! ```
//! Exit status: 0 on success (valid config, token decoded, request goes upstream,
//! audit mode's would-reject included, token exchanged), 1 when the config is
//! refused, the filter would refuse the request or the exchange gives no token, 2
//! on usage errors and when verify or exchange cannot run (a refused
//! configuration, keys not fetched, a missing secret). `audgate verify --help`, `audgate exchange --help` and
//! `audgate mint --help` explain those commands' options and output. A closed
//! standard output (`audgate ... | head`) ends the printing, not the command.

/// `println!` that stops printing, without a panic, once standard output is
/// closed (the command goes on to its own exit status).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(&mut ::std::io::stdout(), format_args!($($arg)*))
    };
}

/// `eprintln!` that ignores a closed standard error.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::line(&mut ::std::io::stderr(), format_args!($($arg)*))
    };
}

mod check_config;
mod destination_table;
mod dpop_proof;
mod exchange_cmd;
mod fetch;
mod flags;
mod inspect;
mod introspect;
mod istio_enum;
mod istio_spec;
mod mint;
mod peer_cert;
mod plugin_file;
mod signing_key;
mod time_text;
mod verify_cmd;
mod workload_vm;

use std::process::ExitCode;

/// Printing that tolerates a reader that went away.
mod output {
    use std::fmt;
    use std::io::Write;

    /// Writes `args` and a newline; an error (a closed pipe) is dropped, as are
    /// later lines, since no one reads them.
    pub fn line(stream: &mut impl Write, args: fmt::Arguments<'_>) {
        let _ = stream
            .write_fmt(args)
            .and_then(|()| stream.write_all(b"\n"))
            .and_then(|()| stream.flush());
    }
}

const USAGE: &str = "usage:
  audgate check-config [--node KEY=VALUE]... FILE...
  audgate inspect TOKEN
  audgate verify --config FILE [--jwks FILE|URL] [--cacert FILE] [--method M] [--path P]
                 [--authority A] [--url URL] [--header 'NAME: VALUE']... [--dpop PROOF]
                 [TOKEN | --no-token]
  audgate exchange --config FILE --token TOKEN (--host HOST[:PORT] | --cluster NAME)
                   [--path PATH] [--sts URL] [--cacert FILE]
  audgate mint (--key FILE | --demo) [--iss ISS] [--aud AUD]... [--sub SUB] [--ttl 1h] ...
  audgate dpop-proof --key FILE --method METHOD --url URL [--token TOKEN] [--nonce NONCE]
  audgate --version
check-config validates each plugin configuration in the files (JSON, Istio WasmPlugin
YAML with its spec fields, Envoy YAML), fills ${node.KEY} audiences from --node (as
a proxy does from its node metadata), or else with <KEY>, and prints each
provider's audiences and the exchange section's destination table (a client
secret's variable is the VM's: named, not read).
TOKEN may be '-' to read it from standard input; a leading 'Bearer ' is ignored.
'audgate verify --help' explains verify's options, its output and exit status;
'audgate exchange --help' those of exchange (one token exchange at the token
service, as the filter makes it); 'audgate mint --help' the options of mint
(tokens for local testing only) and 'audgate dpop-proof --help' those of
dpop-proof (a DPoP proof for one request, for local testing only).
Exit status: 0 on success (config valid, token decoded, request goes upstream,
token exchanged), 1 when check-config finds a refused config, the filter would
refuse verify's request or exchange gets no token, 2 on usage errors and when
verify or exchange cannot run (a configuration the filter would refuse, keys that
could not be fetched, a client secret missing from the environment).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let asks_help = |rest: &[String]| rest.iter().any(|a| a == "-h" || a == "--help");
    let result = match args.first().map(String::as_str) {
        Some("check-config" | "inspect") if asks_help(&args[1..]) => {
            outln!("{USAGE}");
            Ok(true)
        }
        Some("check-config") => check_config::run(&args[1..]),
        Some("inspect") => inspect::run(&args[1..]),
        Some("verify") => verify_cmd::run(&args[1..]),
        Some("exchange") => exchange_cmd::run(&args[1..]),
        Some("mint") => mint::run(&args[1..]),
        Some("dpop-proof") => dpop_proof::run(&args[1..]),
        Some("-V" | "--version" | "version") => {
            outln!("audgate {}", env!("CARGO_PKG_VERSION"));
            Ok(true)
        }
        Some("-h" | "--help" | "help") => {
            outln!("{USAGE}");
            Ok(true)
        }
        Some(other) => Err(format!("unknown command {other}\n{USAGE}")),
        None => Err(format!("no command given\n{USAGE}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            errln!("audgate: {message}");
            ExitCode::from(2)
        }
    }
}

/// The token text from an argument: `-` reads standard input; `Bearer ` is dropped.
fn token_argument(arg: &str) -> Result<String, String> {
    let text = if arg == "-" {
        let mut input = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
            .map_err(|e| format!("reading the token from stdin: {e}"))?;
        input
    } else {
        arg.to_owned()
    };
    Ok(bare_token(&text))
}

/// The token in `text` as people paste it: one `authorization: Bearer …` (or
/// `DPoP …`) line, quoted, or split by the line breaks of a terminal. Each of
/// these is read as the token it holds, and standard error says so.
fn bare_token(text: &str) -> String {
    let mut text = text.trim();
    let mut said = Vec::new();
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            text = inner.trim();
            said.push("its quotes");
        }
    }
    if let Some(rest) = strip_prefix_ignoring_case(text, "authorization:") {
        text = rest.trim_start();
        said.push("the 'authorization:' header name");
    }
    for scheme in ["bearer ", "dpop "] {
        if let Some(rest) = strip_prefix_ignoring_case(text, scheme) {
            text = rest.trim_start();
        }
    }
    let joined: String = text.split_whitespace().collect();
    if joined.len() != text.len() {
        said.push("the line breaks or spaces inside it");
    }
    if !said.is_empty() {
        errln!("audgate: read the token without {}", said.join(" and "));
    }
    joined
}

/// `text` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}
