//! Host operations the filter uses, as small functions that never panic and
//! never read attacker-controlled bytes as UTF-8 unchecked. Failures are
//! returned or logged; the caller decides how to fail closed.

use std::cell::OnceCell;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, Status};

use crate::caller::Peer;

/// Now, Unix milliseconds (0 if the host cannot tell).
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .and_then(|elapsed| u64::try_from(elapsed.as_millis()).ok())
        .unwrap_or(0)
}

/// Every request header, names lowercased, values as lossy UTF-8.
pub fn request_headers() -> Option<Vec<(String, String)>> {
    let pairs = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).ok()?;
    Some(
        pairs
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect(),
    )
}

/// Sets (or with `None` removes) a request header.
pub fn set_request_header(name: &str, value: Option<&str>) {
    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
        log::warn!("audgate: could not change request header {name}");
    }
}

/// Sends a local reply instead of passing the request on.
pub fn send_response(status: u32, headers: Vec<(&str, &str)>, body: &[u8]) {
    if hostcalls::send_http_response(status, headers, Some(body)).is_err() {
        log::error!("audgate: could not send the local reply");
    }
}

/// Lets a paused request go on.
pub fn resume_request() {
    if hostcalls::resume_http_request().is_err() {
        log::warn!("audgate: could not resume a held request");
    }
}

/// Makes `context_id` the context later host calls act on; false if it is gone.
pub fn enter_context(context_id: u32) -> bool {
    hostcalls::set_effective_context(context_id).is_ok()
}

/// The plugin configuration bytes.
pub fn plugin_configuration() -> Vec<u8> {
    hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
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
    let bytes = hostcalls::get_property(path.to_vec()).ok().flatten()?;
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

/// Now, Unix seconds.
pub fn now_s() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

/// Shared data: value and CAS token (`(None, None)` when absent or unreadable).
pub fn shared_get(key: &str) -> (Option<Vec<u8>>, Option<u32>) {
    hostcalls::get_shared_data(key).unwrap_or((None, None))
}

/// Writes shared data; with `cas`, only if nobody wrote it since that read.
pub fn shared_set(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Status> {
    hostcalls::set_shared_data(key, Some(value), cas)
}

/// Sets how often the root context ticks.
pub fn set_tick_period(period: Duration) {
    if hostcalls::set_tick_period(period).is_err() {
        log::error!("audgate: could not set the tick period");
    }
}

/// Sends a GET callout through `cluster`; the reply lands in the calling root context.
pub fn dispatch_get(
    cluster: &str,
    authority: &str,
    path: &str,
    timeout: Duration,
) -> Result<u32, Status> {
    let headers = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", authority),
        ("accept", "application/json"),
        ("user-agent", "audgate"),
    ];
    hostcalls::dispatch_http_call(cluster, headers, None, vec![], timeout)
}

/// `:status` of the callout reply being handled.
pub fn call_response_status() -> Option<u32> {
    let bytes = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// Up to `size` bytes of the callout reply body being handled.
pub fn call_response_body(size: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size)
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

/// The host's log level for this plugin (`Info` if it cannot tell).
pub fn log_level() -> LogLevel {
    hostcalls::get_log_level().unwrap_or(LogLevel::Info)
}
