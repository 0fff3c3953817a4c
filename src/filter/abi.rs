//! The proxy-wasm ABI (0.2.1) as audgate uses it: the host functions it imports,
//! each wrapped so that no status can panic, and the buffer ownership rule (a
//! buffer the host returns was allocated through `proxy_on_memory_allocate`
//! and is taken over exactly once). Only `host` and `foreign` call these.

use std::ptr::{null, null_mut};

/// A host call's status (`Ok` is 0); any other value is a failure the caller
/// handles: `NotFound` 1, `BadArgument` 2, `CasMismatch` 8, …
pub type Status = u32;

/// The status of a call that succeeded.
pub const OK: Status = 0;

/// The status of a shared-data write whose CAS token is no longer current.
pub const CAS_MISMATCH: Status = 8;

/// Header maps (`MapType`), named as the ABI names them.
#[derive(Clone, Copy)]
#[allow(clippy::enum_variant_names)]
#[repr(u32)]
pub enum Map {
    /// The request headers of the current HTTP context.
    RequestHeaders = 0,
    /// The response headers of the current HTTP context.
    ResponseHeaders = 2,
    /// The headers of the callout reply being handled.
    CallResponseHeaders = 6,
}

/// Buffers (`BufferType`).
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum Buffer {
    /// The body of the callout reply being handled.
    CallResponseBody = 4,
    /// The plugin configuration.
    PluginConfiguration = 7,
}

/// Metric kinds (`MetricType`).
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum MetricKind {
    /// A counter.
    Counter = 0,
    /// A gauge.
    Gauge = 1,
}

/// The HTTP request stream (`StreamType::HttpRequest`).
const STREAM_HTTP_REQUEST: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> Status;
    fn proxy_get_log_level(return_level: *mut u32) -> Status;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> Status;
    fn proxy_set_tick_period_milliseconds(period: u32) -> Status;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> Status;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize)
        -> Status;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
        return_cas: *mut u32,
    ) -> Status;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> Status;
    fn proxy_continue_stream(stream_type: u32) -> Status;
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> Status;
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> Status;
    fn proxy_set_effective_context(context_id: u32) -> Status;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> Status;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> Status;
    fn proxy_record_metric(metric_id: u32, value: u64) -> Status;
}

/// Takes over a buffer the host returned (`None` for a null pointer).
///
/// # Safety
/// `data` is null or was allocated by [`super::exports::proxy_on_memory_allocate`]
/// for exactly `size` bytes that the host initialised, and is not used again.
unsafe fn take(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else {
        Some(Vec::from_raw_parts(data, size, size))
    }
}

/// Result of a host call that returns a buffer: the bytes (`None` when the host
/// returned none), or the status.
fn with_buffer(
    call: impl FnOnce(*mut *mut u8, *mut usize) -> Status,
) -> Result<Option<Vec<u8>>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    status(call(&mut data, &mut size))?;
    // SAFETY: on Ok the host returned a buffer it allocated through our
    // allocator, of `size` bytes, which nothing else owns.
    Ok(unsafe { take(data, size) })
}

/// Writes a log line at `level` (0 trace … 5 critical).
pub fn log(level: u32, message: &str) {
    // SAFETY: the message is valid for the call.
    unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

/// The host's log level for this plugin.
pub fn log_level() -> Option<u32> {
    let mut level = 0u32;
    // SAFETY: `level` is a valid out pointer.
    (unsafe { proxy_get_log_level(&mut level) } == OK).then_some(level)
}

/// The host's clock, Unix nanoseconds.
pub fn current_time_ns() -> Option<u64> {
    let mut time = 0u64;
    // SAFETY: `time` is a valid out pointer.
    (unsafe { proxy_get_current_time_nanoseconds(&mut time) } == OK).then_some(time)
}

/// Sets the root context's tick period.
pub fn set_tick_period_ms(period: u32) -> Result<(), Status> {
    // SAFETY: plain value.
    status(unsafe { proxy_set_tick_period_milliseconds(period) })
}

/// Up to `max_size` bytes of `buffer` from `start`.
pub fn buffer(buffer: Buffer, start: usize, max_size: usize) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: out pointers valid for the call.
    with_buffer(|data, size| unsafe {
        proxy_get_buffer_bytes(buffer as u32, start, max_size, data, size)
    })
}

/// The serialized pairs of header map `map` (count, lengths, then each name and
/// value NUL-terminated).
pub fn header_pairs(map: Map) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: out pointers valid for the call.
    with_buffer(|data, size| unsafe { proxy_get_header_map_pairs(map as u32, data, size) })
}

/// One header's value in `map`.
pub fn header_value(map: Map, name: &str) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: `name` and the out pointers are valid for the call.
    with_buffer(|data, size| unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, size)
    })
}

/// Replaces (or adds) header `name` in `map`.
pub fn replace_header(map: Map, name: &str, value: &str) -> Result<(), Status> {
    // SAFETY: `name` and `value` are valid for the call.
    status(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes header `name` from `map`.
pub fn remove_header(map: Map, name: &str) -> Result<(), Status> {
    // SAFETY: `name` is valid for the call.
    status(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// A host property by path (the parts joined by NUL).
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let joined = path.join("\0");
    // SAFETY: `joined` and the out pointers are valid for the call.
    with_buffer(|data, size| unsafe {
        proxy_get_property(joined.as_ptr(), joined.len(), data, size)
    })
}

/// Shared data under `key`: value and CAS token (0: none).
pub fn shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
    let mut cas = 0u32;
    let value = with_buffer(|data, size| {
        // SAFETY: `key` and the out pointers are valid for the call.
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), data, size, &mut cas) }
    })?;
    Ok((value, cas))
}

/// Writes shared data; with a non-zero `cas`, only if nobody wrote it since.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    // SAFETY: `key` and `value` are valid for the call.
    status(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Resumes the current context's paused request.
pub fn continue_request() -> Result<(), Status> {
    // SAFETY: plain value.
    status(unsafe { proxy_continue_stream(STREAM_HTTP_REQUEST) })
}

/// Answers the current request locally.
pub fn send_local_response(
    status_code: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), Status> {
    let headers = serialize_map(headers);
    // SAFETY: every buffer is valid for the call; no details, no gRPC status.
    status(unsafe {
        proxy_send_local_response(
            status_code,
            null(),
            0,
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// Sends a callout through `cluster`; the host's token for it.
pub fn http_call(
    cluster: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: u32,
) -> Result<u32, Status> {
    let headers = serialize_map(headers);
    let trailers = serialize_map(&[]);
    let mut token = 0u32;
    // SAFETY: every buffer and the out pointer are valid for the call.
    let result = unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            if body.is_empty() {
                null()
            } else {
                body.as_ptr()
            },
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    };
    status(result).map(|()| token)
}

/// Makes `context_id` the context later calls act on.
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // SAFETY: plain value.
    status(unsafe { proxy_set_effective_context(context_id) })
}

/// Defines a metric; its id.
pub fn define_metric(kind: MetricKind, name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    // SAFETY: `name` and the out pointer are valid for the call.
    let result = unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) };
    status(result).map(|()| id)
}

/// Adds `offset` to a counter.
pub fn increment_metric(id: u32, offset: i64) -> Result<(), Status> {
    // SAFETY: plain values.
    status(unsafe { proxy_increment_metric(id, offset) })
}

/// Sets a gauge.
pub fn record_metric(id: u32, value: u64) -> Result<(), Status> {
    // SAFETY: plain values.
    status(unsafe { proxy_record_metric(id, value) })
}

fn status(status: Status) -> Result<(), Status> {
    if status == OK {
        Ok(())
    } else {
        Err(status)
    }
}

/// The ABI's map encoding: count, then each name and value length (u32 LE),
/// then each name and value followed by a NUL.
fn serialize_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let size = pairs.iter().fold(4usize, |size, (name, value)| {
        size.saturating_add(name.len())
            .saturating_add(value.len())
            .saturating_add(10)
    });
    let mut bytes = Vec::with_capacity(size);
    let length = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    bytes.extend_from_slice(&length(pairs.len()));
    for (name, value) in pairs {
        bytes.extend_from_slice(&length(name.len()));
        bytes.extend_from_slice(&length(value.len()));
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// What a request callback tells the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Action {
    /// Go on to the next filter.
    Continue = 0,
    /// Stop here until resumed or answered.
    Pause = 1,
}
