//! Envoy's `verify_signature` foreign function: detected once per VM with a
//! known-good and a known-bad vector, then called for RS* and ES* signatures.
//!
//! Any status but Ok (other hosts answer `NotFound` or `BadArgument`) is just
//! "not available".

use crate::keys::host_signature::{decode_result, encode_arguments, FUNCTION};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
}

/// Calls `verify_signature` with encoded arguments; its encoded result, or `None`
/// for any status but Ok.
pub fn call_verify_signature(arguments: &[u8]) -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the name and arguments are valid for the call's duration; on Ok the
    // host returns a buffer it allocated through `proxy_on_memory_allocate` (a
    // boxed slice of exactly `size` bytes), which we take ownership of once.
    let status = unsafe {
        proxy_call_foreign_function(
            FUNCTION.as_ptr(),
            FUNCTION.len(),
            arguments.as_ptr(),
            arguments.len(),
            &mut data,
            &mut size,
        )
    };
    if status != 0 {
        return None;
    }
    if data.is_null() {
        return Some(Vec::new());
    }
    // SAFETY: see above; `data` is non-null and owns `size` initialised bytes.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// P-256 SubjectPublicKeyInfo of the detection vector.
const PROBE_SPKI: &[u8] = include_bytes!("probe/spki.der");
/// DER ECDSA-SHA256 signature of [`PROBE_TEXT`] by that key.
const PROBE_SIGNATURE: &[u8] = include_bytes!("probe/signature.der");
/// The signed text.
const PROBE_TEXT: &[u8] = b"audgate host signature probe";

/// Whether the host verifies signatures correctly: the good vector passes and
/// the same vector with a changed text fails.
pub fn host_verifies() -> bool {
    let probe = |text: &[u8]| {
        let arguments = encode_arguments("sha256", PROBE_SPKI, PROBE_SIGNATURE, text);
        call_verify_signature(&arguments).and_then(|result| decode_result(&result))
    };
    probe(PROBE_TEXT) == Some(true) && probe(b"audgate host signature probe!") == Some(false)
}
