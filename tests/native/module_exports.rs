//! The module exports only the callbacks audgate uses: Envoy calls every
//! exported request callback on every request, needed or not, so a body,
//! trailer or log hook that crept in would cost every request. The
//! response-headers hook is there for `DPoP-Nonce` (RFC 9449 §8.2), and only
//! looks unless a plan asked for a header.

use crate::support;

/// What the module may export, and must.
const EXPORTS: [&str; 11] = [
    "_initialize",
    "memory",
    "proxy_abi_version_0_2_1",
    "proxy_on_configure",
    "proxy_on_context_create",
    "proxy_on_done",
    "proxy_on_http_call_response",
    "proxy_on_memory_allocate",
    "proxy_on_request_headers",
    "proxy_on_response_headers",
    "proxy_on_tick",
];

/// An unsigned LEB128 number at `at`; the number and where the next byte is.
fn leb128(bytes: &[u8], mut at: usize) -> (u64, usize) {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = bytes[at];
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte < 0x80 {
            return (value, at);
        }
    }
}

/// The names in the module's export section.
pub(crate) fn exports(module: &[u8]) -> Vec<String> {
    assert_eq!(&module[..4], b"\0asm", "not a wasm module");
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        let (size, body) = leb128(module, at + 1);
        let end = body + size as usize;
        if id == 7 {
            let (count, mut cursor) = leb128(module, body);
            let mut names = Vec::new();
            for _ in 0..count {
                let (length, start) = leb128(module, cursor);
                let stop = start + length as usize;
                names.push(String::from_utf8(module[start..stop].to_vec()).unwrap());
                let (_, next) = leb128(module, stop + 1); // kind byte, then index
                cursor = next;
            }
            names.sort();
            return names;
        }
        at = end;
    }
    Vec::new()
}

#[test]
fn the_module_exports_only_what_audgate_uses() {
    let path = support::envoy::wasm_path();
    let module = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make build` first)", path.display()));
    assert_eq!(exports(&module), EXPORTS, "{}", path.display());
}
