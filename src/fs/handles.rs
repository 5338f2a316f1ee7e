//! Per-open buffers: a view is rendered once per open into a buffer that every read of that
//! handle is served from, and the buffer goes back to a pool on release so steady-state reads
//! allocate nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Buffers larger than this are not pooled (a host with thousands of CPUs renders big files).
const POOL_MAX_CAPACITY: usize = 64 * 1024;
/// Most idle buffers kept.
const POOL_MAX_LEN: usize = 256;

/// Open handles and a pool of spare buffers.
#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Vec<u8>>>,
    pool: Mutex<Vec<Vec<u8>>>,
}

impl Handles {
    /// An empty buffer to render into, reused when one is spare.
    pub fn buffer(&self) -> Vec<u8> {
        let spare = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(4096))
    }

    /// Stores a rendered buffer and returns its handle (never 0).
    pub fn insert(&self, buf: Vec<u8>) -> u64 {
        let h = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(h, buf);
        h
    }

    /// Copies the window `[offset, offset + size)` of the handle's content (clamped to its end)
    /// into `f`; `None` if the handle is unknown.
    pub fn with_window<T>(
        &self,
        h: u64,
        offset: u64,
        size: u32,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Option<T> {
        let open = self.lock();
        let buf = open.get(&h)?;
        Some(f(window(buf, offset, size)))
    }

    /// Drops a handle, keeping its buffer for reuse.
    pub fn release(&self, h: u64) {
        let Some(mut buf) = self.lock().remove(&h) else {
            return;
        };
        if buf.capacity() <= POOL_MAX_CAPACITY {
            buf.clear();
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_MAX_LEN {
                pool.push(buf);
            }
        }
    }

    /// Handles currently open.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<u8>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The bytes of `buf` from `off`, at most `size`; empty past the end (EOF, as procfs does).
pub fn window(buf: &[u8], off: u64, size: u32) -> &[u8] {
    let start = usize::try_from(off).map_or(buf.len(), |o| o.min(buf.len()));
    let end = buf.len().min(start.saturating_add(size as usize));
    &buf[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_reuse() {
        assert_eq!(window(b"hello", 1, 2), b"el");
        assert_eq!(window(b"hello", 4, 100), b"o");
        assert_eq!(window(b"hello", 5, 1), b"");
        assert_eq!(window(b"hello", u64::MAX, u32::MAX), b"");
        let hs = Handles::default();
        let mut b = hs.buffer();
        b.extend_from_slice(b"abc");
        let h = hs.insert(b);
        assert_eq!(
            hs.with_window(h, 1, 10, |w| w.to_vec()),
            Some(b"bc".to_vec())
        );
        hs.release(h);
        assert_eq!(hs.with_window(h, 0, 1, |w| w.len()), None);
        assert!(hs.buffer().capacity() >= 3);
        assert_eq!(hs.open_count(), 0);
    }
}
