//! `audgate exchange`: one RFC 8693 token exchange, made as the filter makes it
//! for an outbound request: the destination picked by the filter's
//! `destination_for`, the form built by its `grant`, POSTed to the token service
//! and the answer judged by its `judge`; then the issued token decoded, its
//! expiry, and how long the filter would use it. Neither the subject token nor
//! the client secret is ever printed.

use std::cell::RefCell;

use audgate::config::{Config, Lookups};
use audgate::exchange::answer::{judge, ExchangeFailure, Issued, MAX_ANSWER_BYTES};
use audgate::exchange::destination::{destination_for, host_name};
use audgate::exchange::grant::{grant, ClientAuth};
use audgate::exchange::lifetime::{stated_exp, use_until};
use audgate::exchange::settings::Exchange;
use serde_json::Value;

use crate::fetch::{Fetcher, Unanswered};
use crate::flags::Flags;
use crate::time_text::{relative, utc};
use crate::{destination_table, inspect, plugin_file, token_argument, verify_cmd};

/// `audgate exchange --help`.
pub const USAGE: &str = "\
usage: audgate exchange --config FILE --token TOKEN (--host HOST[:PORT] | --cluster NAME)
                        [--path PATH] [--sts URL] [--cacert FILE]

Exchanges TOKEN at the token service (RFC 8693) as the filter's exchange section
does for an outbound request, and prints what came back.

  --config FILE       the plugin configuration: JSON, an Istio WasmPlugin YAML or an
                      Envoy bootstrap YAML (the first configuration in the file with
                      an exchange section is used)
  --token TOKEN       the outbound request's token, exchanged as subject_token; '-'
                      reads it from standard input; a leading 'Bearer ' is ignored
  --host HOST[:PORT]  the request's :authority, matched against the destinations' hosts
  --cluster NAME      the cluster Envoy's route chose, matched against their clusters
                      (give both when the request has both, as at a gateway)
  --path PATH         the request's path, matched against their prefix (default /)
  --sts URL           POST the exchange to URL instead of exchange.token_endpoint, whose
                      host may be one only the proxy resolves; a URL without a path
                      takes the endpoint's path
  --cacert FILE       trust only the CA certificates in this PEM file for https

The client secret (exchange.client_secret_env) is read from this shell's environment
variable of that name, as the filter reads the VM's. Neither it nor TOKEN is ever
printed. The providers' inbound decision is not made here: 'audgate verify' shows it.

Prints the destination matched and what is asked for (audience, resource, scope),
then the outcome: the issued token's header and claims (decoded, NOT verified), its
expiry and how long the filter would use it; or why no token came, and what the
filter answers the application then (401 exchange_refused, 503 exchange).

Exit status: 0 when a token was issued, 1 when the token service refused or failed
or no destination matches, 2 on a usage error, a configuration the filter would
refuse or a client secret missing from the environment.";

const SEE_HELP: &str = "'audgate exchange --help' lists the options";

/// Stands for a client secret the environment lacks; never sent.
const NO_SECRET: &str = "<missing>";

/// Options of the command.
struct Options {
    config: String,
    token: String,
    host: Option<String>,
    cluster: Option<String>,
    path: String,
    sts: Option<String>,
    cacert: Option<String>,
}

/// The command line: options, or a request for the usage text.
enum Command {
    Help,
    Exchange(Options),
}

fn options(args: &[String]) -> Result<Command, String> {
    let mut options = Options {
        config: String::new(),
        token: String::new(),
        host: None,
        cluster: None,
        path: "/".into(),
        sts: None,
        cacert: None,
    };
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        let mut value = |what: &str| flags.value(&flag, what);
        match flag.name {
            "-h" | "--help" => return Ok(Command::Help),
            "--config" => options.config = value("FILE")?,
            "--token" => options.token = token_argument(&value("TOKEN")?)?,
            "--host" => options.host = Some(host(&value("HOST[:PORT]")?)?),
            "--cluster" => options.cluster = Some(value("NAME")?),
            "--path" => options.path = verify_cmd::path(&value("/PATH")?)?,
            "--sts" => options.sts = Some(sts(&value("URL")?)?),
            "--cacert" => options.cacert = Some(value("FILE")?),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag} for exchange; {SEE_HELP}"))
            }
            _ => {
                return Err(format!(
                    "exchange takes no argument {}: give the token as --token TOKEN; {SEE_HELP}",
                    flag.name
                ))
            }
        }
    }
    if options.config.is_empty() {
        return Err(format!(
            "exchange needs --config FILE, the plugin configuration; {SEE_HELP}"
        ));
    }
    if options.token.is_empty() {
        return Err(format!(
            "exchange needs --token TOKEN, the token to exchange; {SEE_HELP}"
        ));
    }
    if options.host.is_none() && options.cluster.is_none() {
        return Err(format!(
            "exchange needs --host HOST[:PORT] or --cluster NAME: where the request goes; {SEE_HELP}"
        ));
    }
    Ok(Command::Exchange(options))
}

/// `--host`: a host as `:authority` carries it (a name or address, perhaps a port).
fn host(text: &str) -> Result<String, String> {
    let name_like = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    };
    if !host_name(text).is_some_and(|host| name_like(&host.name)) {
        return Err(format!(
            "--host {text}: write a host name, perhaps with a port, e.g. --host payments.svc:8080"
        ));
    }
    Ok(text.to_owned())
}

/// `--sts`: an http or https URL.
fn sts(text: &str) -> Result<String, String> {
    let authority = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .map(|rest| rest.split('/').next().unwrap_or_default());
    match authority {
        Some(authority) if !authority.is_empty() => Ok(text.to_owned()),
        _ => Err(format!(
            "--sts {text}: write an http:// or https:// URL, e.g. --sts http://localhost:8080/token"
        )),
    }
}

/// Where the exchange is POSTed: `--sts` (with the endpoint's path when it has
/// none), else the token endpoint.
fn url(sts: Option<&str>, exchange: &Exchange) -> String {
    let Some(given) = sts else {
        return exchange.endpoint.uri.clone();
    };
    let after_scheme = given.split_once("://").map_or("", |(_, rest)| rest);
    match after_scheme.split_once('/') {
        Some((_, path)) if !path.is_empty() => given.to_owned(),
        _ => format!("{}{}", given.trim_end_matches('/'), exchange.endpoint.path),
    }
}

/// The client secret's variable, and whether this shell's environment has it.
#[derive(Default)]
struct SecretEnv {
    name: Option<String>,
    missing: bool,
}

/// The first configuration in `path` with an `exchange` section, compiled with
/// the client secret from this process's environment (see [`SecretEnv`]).
fn configuration(path: &str) -> Result<(Config, SecretEnv), String> {
    let found = plugin_file::read(path)?;
    let has_exchange = |json: &str| {
        serde_json::from_str::<Value>(json).is_ok_and(|value| value.get("exchange").is_some())
    };
    let chosen = found
        .iter()
        .find(|found| found.json.as_deref().is_ok_and(has_exchange))
        .ok_or_else(|| {
            format!(
                "{path}: no configuration in it has an exchange section (of the plugin on the \
                 workload's outbound side); {SEE_HELP}"
            )
        })?;
    if found.len() > 1 {
        errln!(
            "audgate: {} configurations in the file; using {}",
            found.len(),
            chosen.label
        );
    }
    let json = chosen.json.as_deref().unwrap_or_default();
    let secret = RefCell::new(SecretEnv::default());
    let env = |name: &str| {
        let mut secret = secret.borrow_mut();
        secret.name = Some(name.to_owned());
        let value = std::env::var(name).ok().filter(|value| !value.is_empty());
        secret.missing = value.is_none();
        Some(value.unwrap_or_else(|| NO_SECRET.to_owned()))
    };
    let lookups = Lookups {
        node: &|_| None,
        env: &env,
    };
    let config = Config::from_json_in(json.as_bytes(), &lookups).map_err(|e| {
        format!(
            "{}: the filter would refuse this configuration: {e}",
            chosen.label
        )
    })?;
    Ok((config, secret.into_inner()))
}

/// Runs the command; `Ok(false)` when no token was issued.
pub fn run(args: &[String]) -> Result<bool, String> {
    let options = match options(args)? {
        Command::Help => {
            outln!("{USAGE}");
            return Ok(true);
        }
        Command::Exchange(options) => options,
    };
    let (config, secret) = configuration(&options.config)?;
    let Some(exchange) = &config.exchange else {
        return Err(format!("{}: no exchange section", options.config));
    };
    let authority = options.host.as_deref().unwrap_or_default();
    let cluster = options.cluster.as_deref();
    let request = [
        options.host.as_ref().map(|host| format!("host {host}")),
        options
            .cluster
            .as_ref()
            .map(|name| format!("cluster {name}")),
        Some(format!("path {}", options.path)),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let Some((index, destination)) =
        destination_for(&exchange.destinations, authority, cluster, &options.path)
    else {
        outln!("unmatched: no destination covers {request}");
        outln!(
            "  exchange.unmatched {}: {}",
            exchange.unmatched.name(),
            destination_table::unmatched(exchange.unmatched)
        );
        for (index, destination) in exchange.destinations.iter().enumerate() {
            outln!("  {}", destination_table::row(index, destination));
        }
        return Ok(false);
    };
    outln!(
        "destination {index} ({}, for {request}): {}, requires_token {}",
        destination.label(),
        destination_table::place(destination),
        destination.requires_token
    );
    outln!(
        "asks for: {}",
        destination_table::asks(&destination.target())
    );
    if let (ClientAuth::Basic { .. }, Some(name), true) =
        (&exchange.client, &secret.name, secret.missing)
    {
        return Err(format!(
            "exchange.client_secret_env names {name}, and this shell's environment has no {name} \
             (or it is empty): set it to the client's secret first, e.g. read -rs {name}; export {name}"
        ));
    }
    let from = match (&exchange.client, &secret.name) {
        (ClientAuth::Basic { .. }, Some(name)) => format!(", its secret from ${name}"),
        _ => String::new(),
    };
    outln!(
        "client: {}{from}",
        destination_table::client(&exchange.client)
    );
    let form = grant(
        &options.token,
        &exchange.subject_token_type,
        &destination.target(),
        &exchange.client,
    );
    let url = url(options.sts.as_deref(), exchange);
    outln!(
        "POST {url} (timeout {} ms)",
        exchange.endpoint.timeout.as_millis()
    );
    let fetcher = Fetcher::with_timeout(options.cacert.as_deref(), exchange.endpoint.timeout)?;
    let posted = fetcher.post_form(
        &url,
        &form.body,
        form.authorization.as_deref(),
        MAX_ANSWER_BYTES,
    );
    let mut why = None;
    let judged = match posted {
        Ok((status, body)) => judge(Some(u32::from(status)), &body),
        Err(Unanswered::TimedOut) => Err(ExchangeFailure::TimedOut),
        Err(Unanswered::TooLarge) => Err(ExchangeFailure::TooLarge),
        Err(Unanswered::Unreachable(words)) => {
            let hint = if options.sts.is_none() {
                "; --sts URL sends the exchange elsewhere"
            } else {
                ""
            };
            why = Some(format!("{url}: {words}{hint}"));
            Err(ExchangeFailure::NoAnswer)
        }
    };
    match judged {
        Ok(issued) => {
            issued_token(&issued, &options.token);
            Ok(true)
        }
        Err(failure) => {
            let (word, answer) = if failure.refuses_subject() {
                ("refused", "401 (reason exchange_refused)")
            } else {
                ("failed", "503 (reason exchange)")
            };
            outln!("{word}: {failure}");
            if let Some(why) = why {
                outln!("  {why}");
            }
            outln!("  the filter answers the application {answer}; the request does not leave");
            Ok(false)
        }
    }
}

/// The issued token decoded, its expiry and how long the filter would use it.
fn issued_token(issued: &Issued, subject: &str) {
    let stated = issued
        .expires_in
        .map_or("no expires_in".to_owned(), |s| format!("expires_in {s}"));
    outln!("exchanged: the token service issued an access token ({stated})");
    let heading = "issued token, UNVERIFIED: decoded only; the destination verifies it";
    if audgate::token::parse(&issued.access_token).is_ok() {
        inspect::print_decoded(&issued.access_token, heading);
    } else {
        outln!(
            "issued token: not a JWS (an opaque token of {} characters): nothing to decode",
            issued.access_token.len()
        );
    }
    let now = inspect::now();
    let issued_exp = stated_exp(&issued.access_token);
    let subject_exp = stated_exp(subject);
    let by_expires_in = issued
        .expires_in
        .map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX)));
    let earliest = [
        ("its expires_in", by_expires_in),
        ("its exp", issued_exp),
        ("the subject token's exp", subject_exp),
    ]
    .into_iter()
    .filter_map(|(what, at)| Some((what, at?)))
    .min_by_key(|(_, at)| *at);
    match earliest {
        Some((what, at)) => outln!("expires: {}  ({}), by {what}", utc(at), relative(at, now)),
        None => outln!("expires: not stated (no expires_in, and no exp in either token)"),
    }
    match use_until(now, issued.expires_in, issued_exp, subject_exp) {
        Some(until) => outln!(
            "kept: the filter would use it until {}  ({}), then exchange again",
            utc(until),
            relative(until, now)
        ),
        None => outln!("kept: not at all: the filter would use it for this one request only"),
    }
}
