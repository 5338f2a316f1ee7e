//! The rendered bytes of each per-container file, kept for the cache TTL so that the size the
//! kernel is told (`st_size`) and the bytes it then reads are the same rendering.
//!
//! A rendering is made when the kernel asks for the file's attributes (lookup, getattr) and the
//! last one is older than the TTL, and read requests are served from the newest one. Each
//! rendering gets a new mtime: the mount runs with `FUSE_AUTO_INVAL_DATA`, so when the kernel's
//! attributes expire (after the TTL) and the next getattr shows a new mtime, it drops the pages
//! it cached. That keeps every reader within the TTL of fresh without any per-file timer, and it
//! survives a worker restart (a new worker simply renders afresh).
//!
//! Renderings nobody asked for in [`IDLE`] are dropped when a shard has doubled since it was
//! last pruned (the kernel's attributes expired long before, so the next reader renders anew):
//! containers come and go, and their files' bytes must not stay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shards of the map, so threads serving different files rarely share a lock.
const SHARDS: usize = 16;
/// Most renderings kept per shard; beyond it the shard is cleared (they render again).
const MAX_PER_SHARD: usize = 4096;
/// A rendering not renewed for this long is dropped at the next pruning.
pub const IDLE: Duration = Duration::from_secs(60);
/// The smallest shard that is pruned.
const PRUNE_MIN: usize = 64;

/// One rendering of a file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
    /// Its mtime (nanoseconds since the epoch), unique per rendering.
    pub mtime_ns: u64,
    /// Made for a container that is still starting: never reused, and its attributes are
    /// not to be cached by the kernel either (its limits may be written any moment).
    pub volatile: bool,
    at: Instant,
    /// Renderings of this file so far (this one included).
    renders: u64,
}

/// What [`ContentStore::summary`] tells of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSummary {
    /// Its node id.
    pub ino: u64,
    /// How many times it was rendered.
    pub renders: u64,
    /// How long ago it was last rendered.
    pub age: Duration,
}

#[derive(Debug, Default)]
struct Shard {
    files: HashMap<u64, Rendered>,
    prune_at: usize,
}

/// The renderings of one tree's files, by node id.
#[derive(Debug)]
pub struct ContentStore {
    ttl: Duration,
    shards: Vec<Mutex<Shard>>,
}

impl ContentStore {
    /// A store whose renderings are reused for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, ino: u64) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[(ino as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The rendering for an attribute request: the last one if it is younger than the TTL
    /// (and not volatile), else a new one from `render` (which runs without a lock held and
    /// says whether its rendering is volatile).
    pub fn fresh(&self, ino: u64, render: impl FnOnce(&mut Vec<u8>) -> bool) -> Rendered {
        if let Some(r) = self.shard(ino).files.get(&ino) {
            if !r.volatile && r.at.elapsed() < self.ttl {
                return r.clone();
            }
        }
        self.render(ino, render)
    }

    /// The rendering a read is served from: the newest one, which the kernel's size came from;
    /// a new one only if there is none (a file whose attributes a previous worker gave).
    pub fn current(&self, ino: u64, render: impl FnOnce(&mut Vec<u8>) -> bool) -> Rendered {
        if let Some(r) = self.shard(ino).files.get(&ino) {
            return r.clone();
        }
        self.render(ino, render)
    }

    fn render(&self, ino: u64, render: impl FnOnce(&mut Vec<u8>) -> bool) -> Rendered {
        let mut bytes = Vec::with_capacity(4096);
        let volatile = render(&mut bytes);
        let now = Instant::now();
        let mut r = Rendered {
            bytes: Arc::new(bytes),
            mtime_ns: now_ns(),
            volatile,
            at: now,
            renders: 1,
        };
        let mut shard = self.shard(ino);
        if let Some(old) = shard.files.get(&ino) {
            r.renders = old.renders.saturating_add(1);
        } else if shard.files.len() >= shard.prune_at.max(PRUNE_MIN) {
            shard
                .files
                .retain(|_, f| now.saturating_duration_since(f.at) < IDLE);
            if shard.files.len() >= MAX_PER_SHARD {
                shard.files.clear();
            }
            shard.prune_at = shard.files.len() * 2;
        }
        shard.files.insert(ino, r.clone());
        r
    }

    /// Every file rendered within `within`.
    pub fn summary(&self, within: Duration) -> Vec<FileSummary> {
        let now = Instant::now();
        let mut v = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            v.extend(shard.files.iter().filter_map(|(&ino, f)| {
                let age = now.saturating_duration_since(f.at);
                (age <= within).then_some(FileSummary {
                    ino,
                    renders: f.renders,
                    age,
                })
            }));
        }
        v
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
        let a = s.fresh(300, |b| {
            b.extend_from_slice(b"one");
            false
        });
        let b = s.fresh(300, |b| {
            b.extend_from_slice(b"two");
            false
        });
        assert_eq!(*b.bytes, b"one");
        assert_eq!(a.mtime_ns, b.mtime_ns);
        std::thread::sleep(Duration::from_millis(60));
        let c = s.fresh(300, |b| {
            b.extend_from_slice(b"three");
            false
        });
        assert_eq!(*c.bytes, b"three");
        assert!(c.mtime_ns > a.mtime_ns);
        // Reads keep the newest rendering, however old.
        assert_eq!(*s.current(300, |b| !b.is_empty()).bytes, b"three");
        assert_eq!(
            *s.current(301, |b| {
                b.push(b'x');
                false
            })
            .bytes,
            b"x"
        );
        let zero = ContentStore::new(Duration::ZERO);
        zero.fresh(1, |b| {
            b.push(1);
            false
        });
        assert_eq!(
            *zero
                .fresh(1, |b| {
                    b.push(2);
                    false
                })
                .bytes,
            [2]
        );
        // A volatile rendering (a starting container's) is never reused, however young.
        let long = ContentStore::new(Duration::from_secs(60));
        long.fresh(2, |b| {
            b.push(1);
            true
        });
        assert_eq!(
            *long
                .fresh(2, |b| {
                    b.push(2);
                    false
                })
                .bytes,
            [2]
        );
        let files = zero.summary(Duration::from_secs(1));
        assert_eq!(files.len(), 1);
        assert_eq!((files[0].ino, files[0].renders), (1, 2));
    }

    #[test]
    fn idle_renderings_are_dropped_as_new_files_come() {
        let s = ContentStore::new(Duration::ZERO);
        let old = Instant::now() - IDLE - Duration::from_secs(1);
        // Files of containers that went away long ago, all in shard 0.
        for i in 0..PRUNE_MIN as u64 {
            s.fresh(i * SHARDS as u64, |b| {
                b.push(0);
                false
            });
        }
        for f in s.shard(0).files.values_mut() {
            f.at = old;
        }
        s.fresh(PRUNE_MIN as u64 * SHARDS as u64, |b| {
            b.push(1);
            false
        });
        assert_eq!(s.shard(0).files.len(), 1, "the idle ones went");
        assert_eq!(s.summary(Duration::from_secs(5)).len(), 1);
    }
}
