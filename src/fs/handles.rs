//! Per-open buffers: a view is rendered at open into a buffer that the reads of that handle are
//! served from, and the buffer goes back to a pool on release so steady-state reads allocate
//! nothing. A read at offset 0 of a handle that was already read is a rewind (procps `top` and
//! `vmstat` keep `/proc/stat` open and re-read it from 0): the caller re-renders, as procfs does.

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

    /// Whether `h` is a handle of this process for inode `ino`. A file opened under a previous
    /// worker keeps its handle number; this worker renders it afresh and adopts the number.
    pub fn knows(&self, h: u64, ino: u64) -> bool {
        self.lock().get(&h).is_some_and(|o| o.ino == ino)
    }

    /// Stores `buf` under an existing handle number `h` (see [`Handles::knows`]).
    pub fn adopt(&self, h: u64, ino: u64, buf: Vec<u8>) {
        self.lock().insert(
            h,
            Open {
                ino,
                buf,
                read: false,
            },
        );
    }

    /// Whether a read at `offset` must re-render: a rewind to 0 after the content was read.
    pub fn is_rewind(&self, h: u64, offset: u64) -> bool {
        offset == 0 && self.lock().get(&h).is_some_and(|o| o.read)
    }

    /// Replaces the content of `h` through `render` (given the emptied buffer).
    pub fn rerender(&self, h: u64, render: impl FnOnce(&mut Vec<u8>)) {
        // Rendered outside the lock into the handle's own buffer.
        let Some(mut buf) = self.lock().get_mut(&h).map(|o| std::mem::take(&mut o.buf)) else {
            return;
        };
        buf.clear();
        render(&mut buf);
        if let Some(o) = self.lock().get_mut(&h) {
            o.buf = buf;
            o.read = false;
        }
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
        assert!(hs.is_rewind(h, 0) && !hs.is_rewind(h, 1));
        hs.rerender(h, |b| b.extend_from_slice(b"xyz"));
        assert!(!hs.is_rewind(h, 0));
        assert_eq!(
            hs.with_window(h, 0, 10, |w| w.to_vec()),
            Some(b"xyz".to_vec())
        );
        hs.release(h);
        assert_eq!(hs.with_window(h, 0, 1, |w| w.len()), None);
        assert!(hs.buffer().capacity() >= 3);
        assert_eq!(hs.open_count(), 0);
        assert!(!hs.knows(h, 7));
        hs.adopt(h, 7, b"new".to_vec());
        assert!(hs.knows(h, 7) && !hs.knows(h, 8));
        let other = Handles::default();
        assert_ne!(
            other.insert(7, Vec::new()) >> 32,
            hs.insert(7, Vec::new()) >> 32
        );
    }
}
