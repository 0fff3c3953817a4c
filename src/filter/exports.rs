//! The callbacks this module exports to the host, and only those: Envoy calls
//! an exported callback on every request whether the filter needs it or not,
//! so body, trailer and log hooks are not exported at all; the response-headers
//! hook only sets what a plan asked for (a fresh `DPoP-Nonce`).
//!
//! - `proxy_on_context_create`: a root context per plugin; a request gets no
//!   object of its own (a held request is tracked by id in its VM state).
//! - `proxy_on_configure`, `proxy_on_tick`, `proxy_on_http_call_response`: the
//!   root context ([`AudgateRoot`]).
//! - `proxy_on_request_headers`: the decision ([`http::on_request_headers`]).
//! - `proxy_on_response_headers`: headers the plan added to the response
//!   ([`http::on_response_headers`]).
//! - `proxy_on_done`: a request that ended is no longer held; a root that is
//!   retired flushes its stats, answers what it holds (503) and is forgotten.
//!
//! A held request's body and trailers never let it through early: Envoy stops
//! the whole request (`StopAllIterationAndWatermark`) while the headers are
//! paused, whether or not body hooks exist (`tests/e2e/held_body.rs`).

use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;

use super::abi::Action;
use super::http;
use super::logger;
use super::respond::refuse;
use super::root::AudgateRoot;
use crate::rejection::HostFailure;

thread_local! {
    /// The root contexts of this VM (one per plugin sharing it).
    static ROOTS: RefCell<Vec<AudgateRoot>> = const { RefCell::new(Vec::new()) };
    /// The request context created last and its root: Envoy creates a request's
    /// context right before its headers callback.
    static LAST_CREATED: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// The ABI version this module speaks.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Memory for a buffer the host hands the module; the module takes it over as
/// a `Vec<u8>` of exactly `size` bytes ([`super::abi`]).
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut memory: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: the capacity is `size`; the bytes are uninitialised and written
    // by the host before the module reads them.
    unsafe { memory.set_len(size) };
    Box::into_raw(memory.into_boxed_slice()).cast::<u8>()
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// Module start: static constructors, then the logger.
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: called once, by the host, before any other export.
    unsafe {
        __wasm_call_ctors();
    }
    logger::install();
}

/// A new context: a root (no parent) or a request of root `root_id`.
#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_id: u32) {
    if root_id == 0 {
        ROOTS.with(|roots| {
            if let Ok(mut roots) = roots.try_borrow_mut() {
                if !roots.iter().any(|root| root.id() == context_id) {
                    roots.push(AudgateRoot::new(context_id));
                }
            }
        });
    } else {
        LAST_CREATED.with(|last| last.set((context_id, root_id)));
    }
}

/// Configures root `root_id`; false refuses the configuration.
#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, _size: usize) -> bool {
    let Some(mut configured) = root(root_id) else {
        return false;
    };
    if !configured.on_configure() {
        return false;
    }
    ROOTS.with(|roots| {
        let Ok(mut roots) = roots.try_borrow_mut() else {
            return false;
        };
        match roots.iter_mut().find(|root| root.id() == root_id) {
            Some(slot) => {
                *slot = configured;
                true
            }
            None => false,
        }
    })
}

/// Root `root_id`'s timer.
#[no_mangle]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    if let Some(root) = root(root_id) {
        root.on_tick();
    }
}

/// The reply of a callout root `root_id` sent.
#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    root_id: u32,
    token: u32,
    _headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    if let Some(root) = root(root_id) {
        root.on_http_call_response(token, body_size);
    }
}

/// A request's headers: decide (no VM state means no configuration: 503, a
/// host failure no plugin's stats can count).
#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _headers: usize,
    _end_of_stream: bool,
) -> Action {
    match root_of_request(context_id).and_then(|root| root.configured()) {
        Some((vm, metrics)) => http::on_request_headers(context_id, &vm, &metrics),
        None => refuse(None, HostFailure::NoPlugin),
    }
}

/// A response's headers: those its request's plan added (a fresh
/// `DPoP-Nonce`) are set. Every response calls this, so it only looks.
#[no_mangle]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    _headers: usize,
    _end_of_stream: bool,
) -> Action {
    http::on_response_headers(context_id);
    Action::Continue
}

/// A context ended: a request is no longer held; a root is retired (its counts
/// flushed, its held requests answered) and forgotten.
#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> bool {
    if let Some(retired) = root(context_id) {
        retired.on_done();
        ROOTS.with(|roots| {
            if let Ok(mut roots) = roots.try_borrow_mut() {
                roots.retain(|root| root.id() != context_id);
            }
        });
        return true;
    }
    ROOTS.with(|roots| {
        if let Ok(roots) = roots.try_borrow() {
            for vm in roots.iter().filter_map(AudgateRoot::vm) {
                http::on_done(context_id, &vm);
            }
        }
    });
    true
}

/// A copy of root `root_id`'s handle, so no borrow of the registry is held
/// while it runs (its host calls may re-enter the module).
fn root(root_id: u32) -> Option<AudgateRoot> {
    ROOTS.with(|roots| {
        roots
            .try_borrow()
            .ok()?
            .iter()
            .find(|root| root.id() == root_id)
            .cloned()
    })
}

/// The root serving request `context_id`: the one it was created under (the
/// context created last, right before its headers), else the only root; `None`
/// (503) when its root is gone or cannot be told.
fn root_of_request(context_id: u32) -> Option<AudgateRoot> {
    ROOTS.with(|roots| {
        let roots = roots.try_borrow().ok()?;
        let (created, root_id) = LAST_CREATED.with(Cell::get);
        if created == context_id {
            return roots.iter().find(|root| root.id() == root_id).cloned();
        }
        match roots.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    })
}
