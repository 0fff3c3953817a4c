//! `audgate check-config [--node KEY=VALUE]... FILE...`: validates each
//! configuration in the files as the filter's `on_configure` would, printing the
//! offending field of each refused one. `${node.KEY}` audiences are filled from
//! `--node`, or else with `<KEY>` so that the rest can still be checked. A
//! client secret's environment variable is the VM's, not here: it is named,
//! never read, and the configuration checked with a placeholder.

use std::cell::RefCell;
use std::collections::BTreeMap;

use audgate::config::{Config, Introspection, KeySource, Lookups, Problem};
use audgate::oauth::client_auth::ClientAuth;
use audgate::token::dpop::settings::Dpop;

use crate::destination_table;
use crate::plugin_file::{self, Found};

/// What a `*_env` secret variable stands for offline: never a real secret, and
/// long enough for any length rule (a DPoP nonce secret needs 32 bytes).
const PLACEHOLDER_SECRET: &str = "<the VM's environment holds it; not read here>";

/// Runs the command; `Ok(false)` when any configuration is refused.
pub fn run(args: &[String]) -> Result<bool, String> {
    let mut node = BTreeMap::new();
    let mut files = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let pair = if arg == "--node" {
            rest.next()
                .ok_or("--node needs KEY=VALUE, e.g. --node NAMESPACE=shop")?
                .as_str()
        } else if let Some(pair) = arg.strip_prefix("--node=") {
            pair
        } else if arg.starts_with("--") {
            return Err(format!(
                "unknown option {arg} (check-config takes --node KEY=VALUE and FILEs)"
            ));
        } else {
            files.push(arg.as_str());
            continue;
        };
        let (key, value) = pair
            .split_once('=')
            .filter(|(key, value)| !key.is_empty() && !value.is_empty())
            .ok_or_else(|| {
                format!("--node {pair}: write KEY=VALUE, e.g. --node SERVICE_ACCOUNT=orders")
            })?;
        node.insert(key.to_owned(), value.to_owned());
    }
    if files.is_empty() {
        return Err(
            "check-config needs a FILE (plugin config JSON, WasmPlugin YAML or envoy.yaml)".into(),
        );
    }
    // Every file checked and reported, each line naming its file; a file that
    // cannot be read is an error of its own, and the others are still checked.
    let mut all_valid = true;
    for path in files {
        match plugin_file::read(path) {
            Ok(found) => {
                for found in found {
                    all_valid &= check_found(&found, &node);
                }
            }
            Err(problem) => {
                let problem = problem
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(&problem);
                outln!("{path}: error: {problem}");
                all_valid = false;
            }
        }
    }
    Ok(all_valid)
}

/// Checks one configuration and what surrounds it (a WasmPlugin's `spec`),
/// printing errors, then warnings; whether it is valid.
fn check_found(found: &Found, node: &BTreeMap<String, String>) -> bool {
    let label = &found.label;
    for error in &found.errors {
        outln!("{label}: error: {error}");
    }
    for warning in &found.warnings {
        outln!("{label}: warning: {warning}");
    }
    let valid = match &found.json {
        Ok(json) => check(label, json, found.lines_of, node),
        Err(problem) => {
            outln!("{label}: error: {problem}");
            false
        }
    };
    valid && found.errors.is_empty()
}

/// Checks one configuration and prints the verdict; whether it is valid.
fn check(label: &str, json: &str, lines_of: Option<&str>, node: &BTreeMap<String, String>) -> bool {
    let unfilled = RefCell::new(Vec::<String>::new());
    let metadata = |key: &str| {
        node.get(key).cloned().or_else(|| {
            unfilled.borrow_mut().push(key.to_owned());
            Some(format!("<{key}>"))
        })
    };
    let secret_envs = RefCell::new(Vec::<String>::new());
    let env = |name: &str| {
        secret_envs.borrow_mut().push(name.to_owned());
        Some(PLACEHOLDER_SECRET.to_owned())
    };
    let lookups = Lookups {
        node: &metadata,
        env: &env,
    };
    match Config::from_json_in(json.as_bytes(), &lookups) {
        Ok(config) => {
            let exchange = config.exchange.as_ref().map_or(String::new(), |exchange| {
                format!(
                    ", exchange to {} destination(s)",
                    exchange.destinations.len()
                )
            });
            outln!(
                "{label}: valid ({} provider(s), {} rule(s){exchange})",
                config.providers.len(),
                config.rules.len()
            );
            let mut keys = unfilled.into_inner();
            keys.sort();
            keys.dedup();
            if !keys.is_empty() {
                outln!(
                    "{label}: audiences use node metadata {}: each proxy fills them from its own \
                     (a proxy without one refuses the configuration); --node KEY=VALUE shows one workload's",
                    keys.join(", ")
                );
            }
            for provider in &config.providers {
                outln!(
                    "{label}: provider {} accepts audiences {:?}",
                    provider.name,
                    provider.audiences
                );
                if let Some(warning) = discovery_warning(provider) {
                    outln!("{label}: warning: provider {}: {warning}", provider.name);
                }
                if let Some(introspection) = provider.introspection() {
                    let line = introspection_line(introspection);
                    outln!("{label}: provider {}: {line}", provider.name);
                }
                if let Some(dpop) = &provider.dpop {
                    outln!("{label}: provider {}: {}", provider.name, dpop_line(dpop));
                }
            }
            if let Some(published) = &config.resource_metadata {
                outln!(
                    "{label}: resource_metadata: published at {} (every challenge names it): {}",
                    published.url,
                    published.document
                );
            }
            if let Some(exchange) = &config.exchange {
                let secret_env = secret_envs.borrow().first().cloned();
                for line in destination_table::settings(exchange, secret_env.as_deref()) {
                    outln!("{label}: exchange: {line}");
                }
                for (index, destination) in exchange.destinations.iter().enumerate() {
                    outln!(
                        "{label}: exchange {}",
                        destination_table::row(index, destination)
                    );
                }
            }
            true
        }
        Err(error) => {
            match (lines_of, &error.problem) {
                (Some(place), Problem::NotJson(_)) => {
                    outln!("{label}: error: {error} (of {place})")
                }
                _ => outln!("{label}: error: {error}"),
            }
            false
        }
    }
}

/// A warning when a provider's `remote_jwks.uri` looks like an OpenID or OAuth
/// discovery document rather than the key set it names.
fn discovery_warning(provider: &audgate::config::Provider) -> Option<String> {
    let KeySource::Remote(remote) = &provider.keys else {
        return None;
    };
    let path = remote.path.split('?').next().unwrap_or_default();
    let looks = path.ends_with("/.well-known/openid-configuration")
        || path.ends_with("/.well-known/oauth-authorization-server");
    (looks && !remote.discovery).then(|| {
        format!(
            "remote_jwks.uri {} looks like a discovery document, not a key set: use its jwks_uri as uri, or discovery: true",
            remote.uri
        )
    })
}

/// A provider's `introspection` in one line: where, through which cluster,
/// as which client, how long answers serve, how many callouts at once (never
/// the secret).
fn introspection_line(settings: &Introspection) -> String {
    let client = match &settings.client {
        ClientAuth::Basic { client_id, .. } => {
            format!("client {client_id} (client_secret_basic, secret from the VM's environment)")
        }
        ClientAuth::ClientId(client_id) => {
            format!("client {client_id} (tls_client_auth: the cluster's client certificate)")
        }
        ClientAuth::None => "no client authentication".to_owned(),
    };
    format!(
        "introspection: tokens vouched for by {} through cluster {} ({} ms), {client}; \
         active answers reused {} s (never past exp: revocation is seen within that), \
         inactive {} s; at most {} callouts at once per worker",
        settings.endpoint.uri,
        settings.endpoint.cluster,
        settings.endpoint.timeout.as_millis(),
        settings.reuse.active_s,
        settings.reuse.inactive_s,
        settings.max_pending
    )
}

/// A provider's `dpop` in one line: what a token needs, the proofs' rules, the
/// replay store and nonces (never the secret).
fn dpop_line(dpop: &Dpop) -> String {
    let bearer = if dpop.required {
        "every token must be DPoP-bound"
    } else {
        "DPoP-bound tokens need a proof, others pass as bearer tokens"
    };
    let origins = dpop
        .origins
        .as_ref()
        .map_or("the request's own origin".to_owned(), |origins| {
            origins.join(", ")
        });
    let nonces = match &dpop.nonces {
        Some(_) => "server nonces on (secret from the VM's environment)",
        None => "no server nonces",
    };
    format!(
        "dpop: {bearer}; proofs {} within {} s, htu at {origins}; replay store of {} proofs; {nonces}",
        dpop.algs(),
        dpop.max_age_s,
        dpop.replay_store_size
    )
}
