//! What the filter answers itself besides refusals: the resource's metadata
//! document (RFC 9728 §3) at its well-known path, for `GET` and `HEAD`, with no
//! token, readable from any origin; and a browser's preflight for it (`OPTIONS`).

use crate::config::Config;
use crate::decision::plan::{Action, Plan, Reply};
use crate::resource::cors::{metadata_headers, preflight_headers};

/// `content-type` of the metadata document.
const JSON: &str = "application/json";
/// `content-type` of an empty answer.
const TEXT: &str = "text/plain; charset=utf-8";

/// The plan for a request of `method` and `path` (its query left out) when it
/// asks for the configuration's metadata document; `None` for every other
/// request.
pub fn metadata_plan(config: &Config, method: &str, path: &str) -> Option<Plan> {
    let published = config.resource_metadata.as_ref()?;
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if path != published.path {
        return None;
    }
    if method == "OPTIONS" {
        return Some(Plan {
            action: Action::Respond(Reply {
                status: 204,
                challenges: Vec::new(),
                content_type: TEXT,
                body: String::new(),
            }),
            response_headers: preflight_headers(),
        });
    }
    if !matches!(method, "GET" | "HEAD") {
        return None;
    }
    let body = if method == "HEAD" {
        String::new()
    } else {
        published.document.clone()
    };
    Some(Plan {
        action: Action::Respond(Reply {
            status: 200,
            challenges: Vec::new(),
            content_type: JSON,
            body,
        }),
        response_headers: metadata_headers(),
    })
}
