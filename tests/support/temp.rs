//! Scratch directories. Each call gets a directory of its own, named for the
//! process and a counter, so tests that run at once in one test binary never
//! write into each other's files, whatever names they choose.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A new empty directory `audgate-NAME-PID-N` in the system's temp directory.
pub fn dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("audgate-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
