//! Process memory: giving freed heap back to the kernel after large writes, and reading the
//! resident size (benches and the simulator report it).
//!
//! glibc's malloc returns memory to the kernel only from the top of each arena. sled's write
//! path and the decoding of incoming payloads allocate and free hundreds of MB during a large
//! ingest, interleaved with long-lived allocations (the index, sled's cached pages), so the
//! freed pages sit between live ones and the process stays at its high-water mark (the figures
//! are in docs/performance.md). `malloc_trim(0)` walks every arena and releases whole free
//! pages with `madvise`.
//!
//! This is the one place in the workspace with `unsafe`: a call into glibc with no
//! preconditions. Other allocators and platforms do not keep pages this way, so elsewhere it
//! does nothing.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes written between trims. A trim costs a walk of the heap (about 2 ms at 150 MB), so
/// it runs after this much churn, not after every batch. Writing a record frees several
/// times its size: at 16 MB, the heap freed since the last trim was still up to 28 MB when
/// an ingest of 100,000 events ended; at 4 MB a trim is about 2 % of the ingest's time.
const TRIM_AFTER_BYTES: u64 = 4 << 20;

/// Counts bytes written and trims the heap after every [`TRIM_AFTER_BYTES`].
#[derive(Default)]
pub(crate) struct Trimmer {
    written: AtomicU64,
    trims: AtomicU64,
}

impl Trimmer {
    /// Records `bytes` written; trims if enough have been written since the last trim.
    pub(crate) fn wrote(&self, bytes: u64) {
        let before = self.written.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes >= TRIM_AFTER_BYTES {
            self.written.store(0, Ordering::Relaxed);
            self.trims.fetch_add(1, Ordering::Relaxed);
            let released = release_freed_heap();
            tracing::trace!(
                released,
                "trimmed the heap after {} bytes written",
                before + bytes
            );
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_heap() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim is glibc's; it takes no pointers and only works on glibc's own arenas
    // under their locks, so any thread may call it at any time.
    unsafe { malloc_trim(0) != 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_heap() -> bool {
    false
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_threshold_of_bytes_written() {
        let t = Trimmer::default();
        t.wrote(TRIM_AFTER_BYTES / 2);
        t.wrote(TRIM_AFTER_BYTES / 2 - 1);
        assert_eq!(t.trims.load(Ordering::Relaxed), 0);
        t.wrote(1);
        assert_eq!(t.trims.load(Ordering::Relaxed), 1);
        // The count starts again after a trim.
        t.wrote(TRIM_AFTER_BYTES - 1);
        assert_eq!(t.trims.load(Ordering::Relaxed), 1);
        t.wrote(3 * TRIM_AFTER_BYTES);
        assert_eq!(t.trims.load(Ordering::Relaxed), 2);
    }
}
