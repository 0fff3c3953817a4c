//! Host operations the filter uses, as small functions that never panic and
//! never read attacker-controlled bytes as UTF-8 unchecked. Failures are
//! returned or logged; the caller decides how to fail closed.

use std::cell::{Cell, OnceCell};
use std::time::Duration;

use super::abi::{self, Buffer, Map, CAS_MISMATCH};
use crate::keys::host::{Callout, Callouts, NotSent, Reply, SetError, Shared, SharedData};
use crate::policy::caller::Peer;

thread_local! {
    /// The clock as last read by [`refresh_clock`] (0: not read yet).
    static RECENT_MS: Cell<u64> = const { Cell::new(0) };
}

/// Now, Unix milliseconds, from the host (0 if it cannot tell).
pub fn now_ms() -> u64 {
    abi::current_time_ns().map_or(0, |ns| ns / 1_000_000)
}

/// Reads the host's clock for [`recent_ms`]; the root calls it on every tick
/// and callout reply. Its value, Unix milliseconds.
pub fn refresh_clock() -> u64 {
    let now = now_ms();
    RECENT_MS.with(|recent| recent.set(now));
    now
}

/// Now as of the last [`refresh_clock`] (at most one tick old: a request's
/// expiry is judged to the second), or the host's clock if never read.
pub fn recent_ms() -> u64 {
    match RECENT_MS.with(Cell::get) {
        0 => refresh_clock(),
        recent => recent,
    }
}

/// The request headers of the current context, as the ABI serializes them.
pub fn request_header_bytes() -> Option<Vec<u8>> {
    abi::header_pairs(Map::RequestHeaders).ok().flatten()
}

/// Sets (or with `None` removes) a request header; false if the host refused.
pub fn set_request_header(name: &str, value: Option<&str>) -> bool {
    let result = match value {
        Some(value) => abi::replace_header(Map::RequestHeaders, name, value),
        None => abi::remove_header(Map::RequestHeaders, name),
    };
    if result.is_err() {
        log::warn!("audgate: could not change request header {name}");
    }
    result.is_ok()
}

/// Sets response header `name` of the current HTTP context; `false` when the
/// proxy refuses.
pub fn set_response_header(name: &str, value: &str) -> bool {
    abi::replace_header(Map::ResponseHeaders, name, value).is_ok()
}

/// Sends a local reply instead of passing the request on.
pub fn send_response(status: u32, headers: Vec<(&str, &str)>, body: &[u8]) {
    if abi::send_local_response(status, &headers, body).is_err() {
        log::error!("audgate: could not send the local reply");
    }
}

/// Lets a paused request go on.
pub fn resume_request() {
    if abi::continue_request().is_err() {
        log::warn!("audgate: could not resume a held request");
    }
}

/// Makes `context_id` the context later host calls act on; false if it is gone.
pub fn enter_context(context_id: u32) -> bool {
    abi::set_effective_context(context_id).is_ok()
}

/// The plugin configuration bytes.
pub fn plugin_configuration() -> Vec<u8> {
    abi::buffer(Buffer::PluginConfiguration, 0, usize::MAX)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// A host property as text (e.g. `plugin_name`), if set.
pub fn property(name: &str) -> Option<String> {
    property_at(&[name])
}

/// A host property at a path (e.g. `node`, `metadata`, `NAMESPACE`) as text.
pub fn property_at(path: &[&str]) -> Option<String> {
    let bytes = abi::property(path).ok().flatten()?;
    String::from_utf8(bytes).ok()
}

/// A string value of the proxy's node metadata (Envoy's attribute
/// `xds.node.metadata.KEY`; older hosts: `node.metadata.KEY`).
pub fn node_metadata(key: &str) -> Option<String> {
    non_empty(property_at(&["xds", "node", "metadata", key]))
        .or_else(|| non_empty(property_at(&["node", "metadata", key])))
}

/// The downstream TLS peer of the current request, read from the host the first
/// time a check asks (Envoy's `connection.*` attributes), then remembered.
#[derive(Default)]
pub struct HostPeer {
    uri_san: OnceCell<Option<String>>,
    digest: OnceCell<Option<String>>,
}

impl Peer for HostPeer {
    fn uri_san(&self) -> Option<String> {
        self.uri_san
            .get_or_init(|| non_empty(property_at(&["connection", "uri_san_peer_certificate"])))
            .clone()
    }

    fn certificate_sha256_hex(&self) -> Option<String> {
        self.digest
            .get_or_init(|| {
                non_empty(property_at(&[
                    "connection",
                    "sha256_peer_certificate_digest",
                ]))
            })
            .clone()
    }

    fn address(&self) -> Option<String> {
        non_empty(property_at(&["source", "address"]))
    }
}

/// Now, Unix seconds, as of the last [`refresh_clock`].
pub fn now_s() -> i64 {
    i64::try_from(recent_ms() / 1000).unwrap_or(i64::MAX)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

/// Sets how often the root context ticks; false if the host refused.
pub fn set_tick_period(period: Duration) -> bool {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    abi::set_tick_period_ms(millis).is_ok()
}

/// `:status` of the callout reply being handled.
fn call_response_status() -> Option<u32> {
    let bytes = abi::header_value(Map::CallResponseHeaders, ":status")
        .ok()
        .flatten()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// Up to `size` bytes of the callout reply body being handled.
fn call_response_body(size: usize) -> Option<Vec<u8>> {
    abi::buffer(Buffer::CallResponseBody, 0, size)
        .ok()
        .flatten()
}

/// Random jitter in `0..=1000` (from WASI `random_get`; 500 if unavailable).
pub fn jitter() -> u16 {
    let mut bytes = [0u8; 2];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u16::from_le_bytes(bytes) % 1001,
        Err(_) => 500,
    }
}

/// The host's log level for this plugin, as a `log` filter (`Info` if it
/// cannot tell).
pub fn log_level() -> log::LevelFilter {
    match abi::log_level().unwrap_or(2) {
        0 => log::LevelFilter::Trace,
        1 => log::LevelFilter::Debug,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Warn,
        4 => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    }
}

/// The proxy as the key lifecycle's host: its shared data and its callouts.
pub struct Proxy;

impl SharedData for Proxy {
    fn get(&self, key: &str) -> Shared {
        abi::shared_data(key).map_or_else(
            |_| Shared::default(),
            |(value, cas)| Shared {
                value,
                cas: (cas != 0).then_some(cas),
            },
        )
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        abi::set_shared_data(key, value, cas.unwrap_or(0)).map_err(|status| {
            if status == CAS_MISMATCH {
                SetError::CasMismatch
            } else {
                SetError::Refused(status)
            }
        })
    }
}

impl Callouts for Proxy {
    /// A GET through the callout's cluster; the reply lands in the calling root
    /// context.
    fn dispatch(&self, callout: &Callout<'_>) -> Result<u32, NotSent> {
        let method = if callout.form.is_some() {
            "POST"
        } else {
            "GET"
        };
        let mut headers = vec![
            (":method", method),
            (":path", callout.path),
            (":authority", callout.authority),
            ("accept", "application/json"),
            ("user-agent", "audgate"),
        ];
        let mut body: &[u8] = &[];
        let length = callout.form.map(|form| form.body.len().to_string());
        if let (Some(form), Some(length)) = (&callout.form, &length) {
            headers.push(("content-type", "application/x-www-form-urlencoded"));
            headers.push(("content-length", length));
            headers.extend(form.authorization.map(|value| ("authorization", value)));
            body = form.body.as_bytes();
        }
        let timeout_ms = u32::try_from(callout.timeout.as_millis()).unwrap_or(u32::MAX);
        abi::http_call(callout.cluster, &headers, body, timeout_ms).map_err(NotSent)
    }
}

/// The reply of the callout being handled: its status, then up to `body_size`
/// bytes of its body.
pub fn call_reply(body_size: usize) -> Reply {
    Reply {
        status: call_response_status(),
        body_size,
        body: call_response_body(body_size).unwrap_or_default(),
    }
}
