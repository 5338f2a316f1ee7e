//! The rendered bytes of each per-container file, kept for the cache TTL so that the size the
//! kernel is told (`st_size`) and the bytes it then reads are the same rendering.
//!
//! A rendering is made when the kernel asks for the file's attributes (lookup, getattr) and the
//! last one is older than the TTL, and read requests are served from the newest one. Each
//! rendering gets a new mtime: the mount runs with `FUSE_AUTO_INVAL_DATA`, so when the kernel's
//! attributes expire (after the TTL) and the next getattr shows a new mtime, it drops the pages
//! it cached. That keeps every reader within the TTL of fresh without any per-file timer, and it
//! survives a worker restart (a new worker simply renders afresh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shards of the map, so threads serving different files rarely share a lock.
const SHARDS: usize = 16;
/// Most renderings kept per shard; beyond it the shard is cleared (they render again).
const MAX_PER_SHARD: usize = 4096;

/// One rendering of a file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
    /// Its mtime (nanoseconds since the epoch), unique per rendering.
    pub mtime_ns: u64,
    at: Instant,
}

/// The renderings of one tree's files, by node id.
#[derive(Debug)]
pub struct ContentStore {
    ttl: Duration,
    shards: Vec<Mutex<HashMap<u64, Rendered>>>,
}

impl ContentStore {
    /// A store whose renderings are reused for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, ino: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Rendered>> {
        self.shards[(ino as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The rendering for an attribute request: the last one if it is younger than the TTL, else
    /// a new one from `render` (which runs without a lock held).
    pub fn fresh(&self, ino: u64, render: impl FnOnce(&mut Vec<u8>)) -> Rendered {
        if let Some(r) = self.shard(ino).get(&ino) {
            if r.at.elapsed() < self.ttl {
                return r.clone();
            }
        }
        self.render(ino, render)
    }

    /// The rendering a read is served from: the newest one, which the kernel's size came from;
    /// a new one only if there is none (a file whose attributes a previous worker gave).
    pub fn current(&self, ino: u64, render: impl FnOnce(&mut Vec<u8>)) -> Rendered {
        if let Some(r) = self.shard(ino).get(&ino) {
            return r.clone();
        }
        self.render(ino, render)
    }

    fn render(&self, ino: u64, render: impl FnOnce(&mut Vec<u8>)) -> Rendered {
        let mut bytes = Vec::with_capacity(4096);
        render(&mut bytes);
        let r = Rendered {
            bytes: Arc::new(bytes),
            mtime_ns: now_ns(),
            at: Instant::now(),
        };
        let mut shard = self.shard(ino);
        if shard.len() >= MAX_PER_SHARD {
            shard.clear();
        }
        shard.insert(ino, r.clone());
        r
    }
}

/// Nanoseconds since the epoch, strictly increasing within this process (two renderings in the
/// same nanosecond still get different mtimes).
fn now_ns() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_within_ttl_and_new_mtime_after() {
        let s = ContentStore::new(Duration::from_millis(50));
        let a = s.fresh(300, |b| b.extend_from_slice(b"one"));
        let b = s.fresh(300, |b| b.extend_from_slice(b"two"));
        assert_eq!(*b.bytes, b"one");
        assert_eq!(a.mtime_ns, b.mtime_ns);
        std::thread::sleep(Duration::from_millis(60));
        let c = s.fresh(300, |b| b.extend_from_slice(b"three"));
        assert_eq!(*c.bytes, b"three");
        assert!(c.mtime_ns > a.mtime_ns);
        // Reads keep the newest rendering, however old.
        assert_eq!(*s.current(300, |b| b.push(b'x')).bytes, b"three");
        assert_eq!(*s.current(301, |b| b.push(b'x')).bytes, b"x");
        let zero = ContentStore::new(Duration::ZERO);
        zero.fresh(1, |b| b.push(1));
        assert_eq!(*zero.fresh(1, |b| b.push(2)).bytes, [2]);
    }
}
