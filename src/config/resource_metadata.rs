//! `resource_metadata` and `cors_origins`, raw → compiled: the resource's
//! identifier (`${node.KEY}` filled), what it says of itself, and what the
//! providers imply; the document made once here (RFC 9728).

use super::error::fail;
use super::origins::origins;
use super::raw::RawResourceMetadata;
use super::{ConfigError, Problem, Provider};
use crate::policy::placeholder::fill_node;
use crate::resource::metadata::{publish, Described, ResourceMetadata};

/// Most `authorization_servers`, `scopes_supported` and `cors_origins`.
const MAX_LIST: usize = 32;

/// The published metadata of `raw` for `providers`.
pub(super) fn compile_resource_metadata(
    raw: RawResourceMetadata,
    providers: &[Provider],
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<ResourceMetadata, ConfigError> {
    let field = "resource_metadata";
    let resource = fill_node(&raw.resource, node).map_err(|error| ConfigError {
        field: format!("{field}.resource"),
        problem: Problem::Placeholder(error),
    })?;
    let authorization_servers = match raw.authorization_servers {
        None => {
            let mut issuers: Vec<String> = Vec::new();
            for provider in providers {
                if !issuers.contains(&provider.issuer) {
                    issuers.push(provider.issuer.clone());
                }
            }
            issuers
        }
        Some(list) => {
            let servers_field = format!("{field}.authorization_servers");
            let list = strings(&servers_field, list)?;
            let not_url = list.iter().position(|server| {
                !server.starts_with("https://") && !server.starts_with("http://")
            });
            if let Some(index) = not_url {
                return fail(format!("{servers_field}[{index}]"), Problem::InvalidUri);
            }
            list
        }
    };
    let scopes_supported = raw
        .scopes_supported
        .map(|list| strings(&format!("{field}.scopes_supported"), list))
        .transpose()?;
    if raw.resource_name.as_deref() == Some("") {
        return fail(format!("{field}.resource_name"), Problem::Empty);
    }
    if let Some(documentation) = &raw.resource_documentation {
        if !documentation.starts_with("https://") && !documentation.starts_with("http://") {
            return fail(
                format!("{field}.resource_documentation"),
                Problem::InvalidUri,
            );
        }
    }
    let mut dpop_algs: Vec<String> = Vec::new();
    for provider in providers {
        for alg in provider.dpop.iter().flat_map(|dpop| dpop.algs.split(' ')) {
            if !alg.is_empty() && !dpop_algs.iter().any(|known| known == alg) {
                dpop_algs.push(alg.to_owned());
            }
        }
    }
    let every =
        |holds: &dyn Fn(&Provider) -> bool| !providers.is_empty() && providers.iter().all(holds);
    let described = Described {
        authorization_servers,
        scopes_supported,
        resource_name: raw.resource_name,
        resource_documentation: raw.resource_documentation,
        bearer_methods: if providers.iter().any(|p| !p.from_params.is_empty()) {
            vec!["header", "query"]
        } else {
            vec!["header"]
        },
        dpop_algs,
        dpop_required: every(&|p| p.dpop.as_ref().is_some_and(|dpop| dpop.required)),
        certificate_bound: every(&|p| {
            p.caller
                .as_ref()
                .is_some_and(|caller| caller.require_certificate_binding)
        }),
    };
    publish(&resource, &described).ok_or(ConfigError {
        field: format!("{field}.resource"),
        problem: Problem::NotHttpsResource,
    })
}

/// `cors_origins`: 1..32 origins, normalised.
pub(super) fn compile_cors_origins(raw: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    match raw {
        None => Ok(Vec::new()),
        Some(list) => origins("cors_origins", list, MAX_LIST),
    }
}

/// 1..32 non-empty strings without spaces, quotes or control characters (they
/// go into a challenge and a JSON document).
fn strings(field: &str, list: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return fail(field, Problem::Empty);
    }
    if list.len() > MAX_LIST {
        return fail(field, Problem::TooMany { max: MAX_LIST });
    }
    for (index, item) in list.iter().enumerate() {
        if item.is_empty() || item.contains(['"', '\\', ' ']) || item.chars().any(char::is_control)
        {
            return fail(format!("{field}[{index}]"), Problem::Word);
        }
    }
    Ok(list)
}
