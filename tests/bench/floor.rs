//! The floor of `make bench`: the least a proxy-wasm HTTP filter can be, with no SDK.
//! tests/bench/bench.py compiles this file into target/bench-floor/ twice:
//!
//!     rustc --target wasm32-wasip1 --crate-type cdylib -O -C panic=abort floor.rs
//!         -> floor_empty.wasm: every request is let through (Continue) untouched
//!     ... --cfg read_headers
//!         -> floor_headers.wasm: the same after reading all request headers once
//!            (`proxy_get_header_map_pairs`, map type 0): the floor of any filter
//!            that looks at a request
//!
//! Only what Envoy needs is exported: the ABI version, the allocator it calls to hand
//! over host data, and the two callbacks; Envoy skips every callback a module does
//! not export (on_done, on_log, on_delete, ...). The first request is logged once, at
//! warn, so the bench can see that the filter ran (one load and branch per request).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    #[cfg(read_headers)]
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

const PAGE: usize = 65536;
/// Whatever Envoy asks for lands here: the filter keeps nothing across calls, so the
/// next allocation may reuse it. Grown (never shrunk) when a request needs more.
static mut BUFFER: *mut u8 = core::ptr::null_mut();
static mut BUFFER_SIZE: usize = 0;
static mut LOGGED: bool = false;

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub unsafe extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    if size > BUFFER_SIZE {
        let pages = size.div_ceil(PAGE);
        let first = core::arch::wasm32::memory_grow(0, pages);
        if first == usize::MAX {
            return core::ptr::null_mut();
        }
        BUFFER = (first * PAGE) as *mut u8;
        BUFFER_SIZE = pages * PAGE;
    }
    BUFFER
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context: u32, _parent: u32) {}

#[no_mangle]
pub unsafe extern "C" fn proxy_on_request_headers(_context: u32, _headers: u32, _eos: u32) -> u32 {
    #[cfg(read_headers)]
    let pairs = {
        let mut data: *mut u8 = core::ptr::null_mut();
        let mut size: usize = 0;
        let status = proxy_get_header_map_pairs(0, &mut data, &mut size);
        // The map starts with the number of pairs (little-endian u32).
        if status == 0 && size >= 4 { core::ptr::read_unaligned(data as *const u32) } else { 0 }
    };
    if !LOGGED {
        LOGGED = true;
        #[cfg(not(read_headers))]
        let message: &[u8] = b"bench floor (empty): first request let through";
        #[cfg(read_headers)]
        let message: &[u8] = if pairs > 0 {
            b"bench floor (headers): first request let through after reading its headers"
        } else {
            b"bench floor (headers): first request, but no header pairs read"
        };
        proxy_log(3, message.as_ptr(), message.len());
    }
    0
}
