//! What reached the callee's upstream in the outbound soak, checked request by
//! request as it arrives: whose request it is (its id in the path), that the
//! original token (or its signature) is in none of its headers, its path or its
//! body, and that its `authorization` is a token the token service minted for
//! that destination (its audience and scope, the subject's `sub`, the caller as
//! `act`), the one the callee verified.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{Subject, DESTINATIONS};
use crate::support::chain::{CLIENT_ID, PAYLOAD_HEADER};
use crate::support::keys;
use crate::support::sts::Sts;
use crate::support::{Request, Upstream};

/// Every request sent, by id: its subject token and destination index.
pub type Sent = Mutex<HashMap<String, (Arc<Subject>, usize)>>;

/// What the upstream recorded, checked.
#[derive(Default)]
pub struct Forwarded {
    pub seen: u64,
    /// How often each request id arrived.
    ids: HashMap<String, u32>,
    /// Requests that broke a check, and how.
    pub violations: Vec<String>,
    /// Requests by the `kid` of their exchanged token.
    pub kids: BTreeMap<String, u64>,
}

/// Arrivals against answers.
pub struct Reached {
    /// Ids answered 200 that never arrived.
    pub missing: Vec<String>,
    /// Ids that arrived more than once.
    pub twice: Vec<String>,
    /// Ids that arrived but were not answered 200.
    pub not_ok: Vec<String>,
}

impl Forwarded {
    /// Takes and checks what `upstream` recorded since the last call.
    pub fn drain(&mut self, upstream: &Upstream, sent: &Sent, sts: &Sts) {
        let requests = upstream.take();
        let sent = sent.lock().unwrap();
        for request in requests {
            self.seen += 1;
            match check(&request, &sent, sts) {
                Ok((id, kid)) => {
                    *self.ids.entry(id).or_default() += 1;
                    *self.kids.entry(kid).or_default() += 1;
                }
                Err(why) => {
                    let id = request.path.rsplit('/').next().unwrap_or_default();
                    *self.ids.entry(id.to_owned()).or_default() += 1;
                    self.violations.push(format!("{}: {why}", request.path));
                }
            }
        }
    }

    /// What arrived against the ids answered 200.
    pub fn against(&self, ok_ids: &HashSet<String>) -> Reached {
        let missing = ok_ids
            .iter()
            .filter(|id| !self.ids.contains_key(*id))
            .cloned()
            .collect();
        let twice = self.ids.iter().filter(|(_, n)| **n > 1);
        let twice = twice.map(|(id, n)| format!("{id} × {n}")).collect();
        let not_ok = self.ids.keys().filter(|id| !ok_ids.contains(*id));
        Reached {
            missing,
            twice,
            not_ok: not_ok.cloned().collect(),
        }
    }
}

/// Checks one request the upstream recorded; its id and the exchanged token's `kid`.
fn check(
    request: &Request,
    sent: &HashMap<String, (Arc<Subject>, usize)>,
    sts: &Sts,
) -> Result<(String, String), String> {
    let path = request.path.strip_prefix("/soak-out/").unwrap_or("");
    let (name, id) = path.split_once('/').unwrap_or(("", ""));
    let (subject, destination) = sent.get(id).ok_or("a request no client sent")?;
    // the original token, or its signature, anywhere
    let original = [subject.token.as_str(), subject.signature.as_str()];
    for (header, value) in &request.headers {
        if original
            .iter()
            .any(|o| header.contains(o) || value.contains(o))
        {
            return Err(format!("the original token reached the callee in {header}"));
        }
    }
    let body = String::from_utf8_lossy(&request.body);
    if original
        .iter()
        .any(|o| request.path.contains(o) || body.contains(o))
    {
        return Err("the original token reached the callee in the path or body".into());
    }
    let destination = &DESTINATIONS[*destination];
    if name != destination.name || request.header("host") != Some(destination.host) {
        return Err(format!(
            "sent to {}, arrived as {name} with host {:?}",
            destination.host,
            request.header("host")
        ));
    }
    // the exchanged token: minted by the token service for this destination
    let authorization = request.headers_named("authorization");
    let [bearer] = authorization.as_slice() else {
        return Err(format!("{} authorization headers", authorization.len()));
    };
    let token = bearer
        .strip_prefix("Bearer ")
        .ok_or("authorization is not Bearer")?;
    let claims = sts
        .verify(token)
        .map_err(|e| format!("not a token the service minted: {e}"))?;
    let expected = [
        ("aud", json!(destination.host)),
        ("sub", json!(subject.sub)),
        ("act", json!({"sub": CLIENT_ID})),
        ("scope", json!(destination.scope)),
    ];
    for (claim, value) in expected {
        if claims.get(claim) != Some(&value) {
            let found = claims.get(claim);
            return Err(format!("the exchanged token's {claim} is {found:?}"));
        }
    }
    let payload = request
        .header(PAYLOAD_HEADER)
        .ok_or("the callee passed no verified payload")?;
    let payload: Value = serde_json::from_slice(&keys::b64_decode(payload))
        .map_err(|e| format!("verified payload: {e}"))?;
    if payload["jti"] != claims["jti"] || payload["aud"] != json!(destination.host) {
        return Err("the callee verified another token than the one forwarded".into());
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    Ok((id.to_owned(), header.kid.unwrap_or_default()))
}
