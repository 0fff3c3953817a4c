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
use crate::workload_vm::{self, Placement};

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
    // Every file read first, so that plugins can be compared across files; then
    // each reported, a file that cannot be read as an error of its own.
    let mut read: Vec<(&str, Result<Vec<Found>, String>)> = files
        .into_iter()
        .map(|path| (path, plugin_file::read(path)))
        .collect();
    // Two resources of one name in different files: each named with its file,
    // so that one's error is never read as the other's.
    let mut labels = BTreeMap::<String, usize>::new();
    for found in read
        .iter()
        .filter_map(|(_, found)| found.as_ref().ok())
        .flatten()
    {
        *labels.entry(found.label.clone()).or_default() += 1;
    }
    for (path, found) in &mut read {
        for found in found.iter_mut().flatten() {
            if labels.get(&found.label).is_some_and(|count| *count > 1) {
                found.label = format!("{} (in {path})", found.label);
            }
        }
    }
    let mut plugins: Vec<&mut Found> = read
        .iter_mut()
        .filter_map(|(_, found)| found.as_mut().ok())
        .flatten()
        .collect();
    let placements: Vec<Option<&Placement>> = plugins
        .iter()
        .map(|found| found.around.placement.as_ref())
        .collect();
    let labels: Vec<&str> = plugins.iter().map(|found| found.label.as_str()).collect();
    let shared = workload_vm::differing_environments(&placements, &labels);
    for (index, warning) in shared {
        if let Some(found) = plugins.get_mut(index) {
            found.around.warnings.push(warning);
        }
    }
    let mut all_valid = true;
    for (path, found) in &read {
        match found {
            Ok(found) => {
                for found in found {
                    all_valid &= check_found(found, &node);
                }
            }
            Err(problem) => {
                let problem = problem
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(problem);
                outln!("{path}: error: {problem}");
                all_valid = false;
            }
        }
    }
    Ok(all_valid)
}

/// Checks one configuration and what surrounds it (a WasmPlugin's `spec`, the
/// VM's environment), printing the errors, warnings and notes, then the verdict
/// ("valid" only when there is no error); whether it is valid.
fn check_found(found: &Found, node: &BTreeMap<String, String>) -> bool {
    let label = &found.label;
    let parsed = found.json.as_ref().map(|json| parse(json, node));
    let mut errors = found.around.errors.clone();
    let mut warnings = found.around.warnings.clone();
    if let (Ok(Ok(checked)), Some(env)) = (&parsed, &found.around.vm_env) {
        let (missing, inline) = workload_vm::environment_problems(env, &checked.secret_envs);
        errors.extend(missing);
        warnings.extend(inline);
    }
    for error in &errors {
        outln!("{label}: error: {error}");
    }
    for warning in &warnings {
        outln!("{label}: warning: {warning}");
    }
    for note in &found.around.notes {
        outln!("{label}: {note}");
    }
    match parsed {
        Ok(Ok(checked)) if errors.is_empty() => {
            report(label, &checked);
            true
        }
        Ok(Ok(checked)) => {
            outln!(
                "{label}: refused: its plugin configuration is valid ({}), the rest is not \
                 (the error(s) above)",
                summary(&checked.config)
            );
            false
        }
        Ok(Err(error)) => {
            match (found.lines_of, &error.problem) {
                (Some(place), Problem::NotJson(_)) => {
                    outln!("{label}: error: {error} (of {place})")
                }
                _ => outln!("{label}: error: {error}"),
            }
            false
        }
        Err(problem) => {
            outln!("{label}: error: {problem}");
            false
        }
    }
}

/// A configuration read as the filter reads it, with what it asked of the
/// node metadata and the VM's environment.
struct Checked {
    config: Config,
    /// `${node.KEY}` keys not given with `--node`, sorted.
    unfilled: Vec<String>,
    /// The `*_env` variables it reads, sorted.
    secret_envs: Vec<String>,
    /// `exchange.client_secret_env`, if any.
    exchange_secret_env: Option<String>,
}

/// Reads one configuration as `on_configure` would, `--node` values filling
/// node metadata and placeholders the VM's secrets.
fn parse(
    json: &str,
    node: &BTreeMap<String, String>,
) -> Result<Checked, audgate::config::ConfigError> {
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
    let config = Config::from_json_in(json.as_bytes(), &lookups)?;
    let mut unfilled = unfilled.into_inner();
    unfilled.sort();
    unfilled.dedup();
    let mut secret_envs = secret_envs.into_inner();
    secret_envs.sort();
    secret_envs.dedup();
    let exchange_secret_env = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|raw| {
            raw.pointer("/exchange/client_secret_env")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        });
    Ok(Checked {
        config,
        unfilled,
        secret_envs,
        exchange_secret_env,
    })
}

/// "1 provider(s), 2 rule(s), exchange to 3 destination(s)".
fn summary(config: &Config) -> String {
    let exchange = config.exchange.as_ref().map_or(String::new(), |exchange| {
        format!(
            ", exchange to {} destination(s)",
            exchange.destinations.len()
        )
    });
    format!(
        "{} provider(s), {} rule(s){exchange}",
        config.providers.len(),
        config.rules.len()
    )
}

/// Prints what a valid configuration does: its summary, the node metadata it
/// asks for, each provider's audiences and key source, what it publishes, its
/// exchange.
fn report(label: &str, checked: &Checked) {
    let config = &checked.config;
    outln!("{label}: valid ({})", summary(config));
    if !checked.unfilled.is_empty() {
        outln!(
            "{label}: audiences use node metadata {}: each proxy fills them from its own \
             (a proxy without one refuses the configuration); --node KEY=VALUE shows one workload's",
            checked.unfilled.join(", ")
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
        let secret_env = checked.exchange_secret_env.as_deref();
        for line in destination_table::settings(exchange, secret_env) {
            outln!("{label}: exchange: {line}");
        }
        for (index, destination) in exchange.destinations.iter().enumerate() {
            outln!(
                "{label}: exchange {}",
                destination_table::row(index, destination)
            );
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
