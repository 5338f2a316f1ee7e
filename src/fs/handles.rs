//! Per-open buffers: a view is rendered at open into a buffer that the reads of that handle are
//! served from, and the buffer goes back to a pool on release so steady-state reads allocate
//! nothing. A read at offset 0 of a handle that was already read is a rewind (procps `top` and
//! `vmstat` keep `/proc/stat` open and re-read it from 0): the caller re-renders, as procfs does,
//! and so it does for a handle opened under a previous worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Buffers larger than this are not pooled (a host with thousands of CPUs renders big files).
const POOL_MAX_CAPACITY: usize = 64 * 1024;
/// Most idle buffers kept.
const POOL_MAX_LEN: usize = 256;

/// One open handle's content.
#[derive(Debug)]
struct Open {
    ino: u64,
    buf: Vec<u8>,
    /// Whether a read has been served since the content was rendered.
    read: bool,
}

/// Open handles and a pool of spare buffers.
///
/// Handle numbers start at a random 32-bit base shifted high, so a worker that replaces a dead
/// or upgraded one never hands out a number the kernel still associates with a file opened under
/// its predecessor (which would show one caller another's content).
#[derive(Debug)]
pub struct Handles {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
    pool: Mutex<Vec<Vec<u8>>>,
}

impl Default for Handles {
    fn default() -> Self {
        Self {
            next: AtomicU64::new(random_u32() << 32),
            open: Mutex::default(),
            pool: Mutex::default(),
        }
    }
}

fn random_u32() -> u64 {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        // No /dev/urandom: the clock's nanoseconds still differ between generations.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        return u64::from(t);
    }
    u64::from(u32::from_ne_bytes(b))
}

impl Handles {
    /// An empty buffer to render into, reused when one is spare.
    pub fn buffer(&self) -> Vec<u8> {
        let spare = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(4096))
    }

    /// Stores a rendered buffer of inode `ino` and returns its handle (never 0).
    pub fn insert(&self, ino: u64, buf: Vec<u8>) -> u64 {
        let h = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(
            h,
            Open {
                ino,
                buf,
                read: false,
            },
        );
        h
    }

    /// Whether a read of `h` at `offset` must render first: the handle is not this process's
    /// for inode `ino` (the file was opened under a previous worker, which keeps its handle
    /// number), or the read is a rewind to 0 after the content was read.
    pub fn needs_render(&self, h: u64, ino: u64, offset: u64) -> bool {
        self.lock()
            .get(&h)
            .is_none_or(|o| o.ino != ino || (offset == 0 && o.read))
    }

    /// Renders the content of `h` (inode `ino`) afresh through `render`, into the handle's own
    /// buffer when it has one, adopting the handle number otherwise.
    pub fn rerender(&self, h: u64, ino: u64, render: impl FnOnce(&mut Vec<u8>)) {
        // Rendered outside the lock.
        let own = self
            .lock()
            .get_mut(&h)
            .filter(|o| o.ino == ino)
            .map(|o| std::mem::take(&mut o.buf));
        let mut buf = own.unwrap_or_else(|| self.buffer());
        buf.clear();
        render(&mut buf);
        self.lock().insert(
            h,
            Open {
                ino,
                buf,
                read: false,
            },
        );
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
        let mut open = self.lock();
        let o = open.get_mut(&h)?;
        o.read = true;
        Some(f(window(&o.buf, offset, size)))
    }

    /// Drops a handle, keeping its buffer for reuse.
    pub fn release(&self, h: u64) {
        let Some(Open { mut buf, .. }) = self.lock().remove(&h) else {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
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
        let h = hs.insert(7, b);
        assert_eq!(
            hs.with_window(h, 1, 10, |w| w.to_vec()),
            Some(b"bc".to_vec())
        );
        assert!(hs.needs_render(h, 7, 0) && !hs.needs_render(h, 7, 1));
        hs.rerender(h, 7, |b| b.extend_from_slice(b"xyz"));
        assert!(!hs.needs_render(h, 7, 0));
        assert_eq!(
            hs.with_window(h, 0, 10, |w| w.to_vec()),
            Some(b"xyz".to_vec())
        );
        hs.release(h);
        assert_eq!(hs.with_window(h, 0, 1, |w| w.len()), None);
        assert!(hs.buffer().capacity() >= 3);
        assert_eq!(hs.open_count(), 0);
        assert!(hs.needs_render(h, 7, 5));
        hs.rerender(h, 7, |b| b.extend_from_slice(b"new"));
        assert!(!hs.needs_render(h, 7, 5) && hs.needs_render(h, 8, 5));
        let other = Handles::default();
        assert_ne!(
            other.insert(7, Vec::new()) >> 32,
            hs.insert(7, Vec::new()) >> 32
        );
    }
}
