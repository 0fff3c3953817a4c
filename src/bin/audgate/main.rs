//! `audgate`: the filter's decision code on the command line.
//!
//! ```text
//! audgate check-config [--node KEY=VALUE]... FILE...
//!                                           validate plugin configs (JSON, Istio WasmPlugin YAML, envoy.yaml)
//! audgate inspect TOKEN                     decode a token WITHOUT verifying it
//! audgate verify --config FILE [--jwks FILE|URL] [--method M] [--path P] [--authority A]
//!                [--header 'NAME: VALUE']... [TOKEN | --no-token]
//!                                           what the filter would do with the request
//! ```
//! Exit status: 0 on success (valid config, token decoded, request goes upstream,
//! audit mode's would-reject included), 1 when the config is refused or the filter
//! would refuse the request, 2 on usage errors. `audgate verify --help` explains
//! verify's options and output.

mod check_config;
mod inspect;
mod plugin_file;
mod time_text;
mod verify_cmd;

use std::process::ExitCode;

const USAGE: &str = "usage:
  audgate check-config [--node KEY=VALUE]... FILE...
  audgate inspect TOKEN
  audgate verify --config FILE [--jwks FILE|URL] [--method M] [--path P] [--authority A]
                 [--header 'NAME: VALUE']... [TOKEN | --no-token]
check-config fills ${node.KEY} audiences from --node (as a proxy does from its node
metadata), or else with <KEY>, and prints each provider's audiences.
TOKEN may be '-' to read it from standard input; a leading 'Bearer ' is ignored.
'audgate verify --help' explains verify's options, its output and exit status.
Exit status: 0 on success (config valid, token decoded, request goes upstream),
1 when check-config finds a refused config or the filter would refuse verify's
request, 2 on usage errors.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let asks_help = |rest: &[String]| rest.iter().any(|a| a == "-h" || a == "--help");
    let result = match args.first().map(String::as_str) {
        Some("check-config" | "inspect") if asks_help(&args[1..]) => {
            println!("{USAGE}");
            Ok(true)
        }
        Some("check-config") => check_config::run(&args[1..]),
        Some("inspect") => inspect::run(&args[1..]),
        Some("verify") => verify_cmd::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(true)
        }
        Some(other) => Err(format!("unknown command {other}\n{USAGE}")),
        None => Err(format!("no command given\n{USAGE}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("audgate: {message}");
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
    let text = text.trim();
    let text = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => text.get(7..).unwrap_or_default(),
        _ => text,
    };
    Ok(text.trim().to_owned())
}
