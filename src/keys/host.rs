//! What the key lifecycle needs of its host, as two traits: the proxy's shared
//! data (one store for every VM, changed by compare-and-swap) and HTTP callouts.
//! The filter implements them over the proxy-wasm ABI; the native tests over a
//! fake host that two fetchers share as two VMs would. The clock and randomness
//! are no host here: they are passed in as values.

use std::fmt;
use std::time::Duration;

/// A value in shared data and the CAS token it was read with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    /// The bytes, `None` when absent or unreadable.
    pub value: Option<Vec<u8>>,
    /// The CAS token of that value, `None` when absent.
    pub cas: Option<u32>,
}

/// Why a shared-data write was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    /// The value changed since it was read with that CAS token.
    CasMismatch,
    /// Any other refusal, with the host's status.
    Refused(u32),
}

/// The proxy's shared data: one store for every VM of the plugin.
pub trait SharedData {
    /// The value under `key` and its CAS token.
    fn get(&self, key: &str) -> Shared;

    /// Writes `value` under `key`; with `cas`, only if nobody wrote it since
    /// that read.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError>;
}

/// A request the host is asked to send: a GET, or a form POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Callout<'a> {
    /// The cluster it goes through.
    pub cluster: &'a str,
    /// Its `:authority`.
    pub authority: &'a str,
    /// Its `:path`.
    pub path: &'a str,
    /// How long the host waits for the reply.
    pub timeout: Duration,
    /// A form to POST; `None`: a GET.
    pub form: Option<FormPost<'a>>,
}

/// An `application/x-www-form-urlencoded` POST body and its `authorization`.
/// It may hold a token and a client secret: its `Debug` shows neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FormPost<'a> {
    /// The form body.
    pub body: &'a str,
    /// `authorization` (HTTP Basic client credentials), if any.
    pub authorization: Option<&'a str>,
}

impl fmt::Debug for FormPost<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FormPost {{ {} bytes, authorization: {} }}",
            self.body.len(),
            if self.authorization.is_some() {
                "<redacted>"
            } else {
                "none"
            }
        )
    }
}

/// The host would not send a callout (no such cluster, or it cannot be used),
/// with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSent(pub u32);

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "callout refused by the host (status {})", self.0)
    }
}

/// HTTP callouts: a reply comes later, under the id the host gave the call.
pub trait Callouts {
    /// Sends `callout`; the host's id for it.
    fn dispatch(&self, callout: &Callout<'_>) -> Result<u32, NotSent>;
}

/// A callout's reply as the host gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// `:status`, `None` when there was no reply (reset, timeout).
    pub status: Option<u32>,
    /// The body's size as the host reports it.
    pub body_size: usize,
    /// The body (empty when it could not be read).
    pub body: Vec<u8>,
}
