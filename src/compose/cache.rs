//! A small time-bounded cache: values are reused for at most `ttl`, then loaded again. Keys are
//! compared by value, so an entry is only ever shared by readers with the same key (the same
//! container's cgroup directories, or the same host file), never across containers.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries kept; beyond it the map is cleared (entries are cheap to reload).
const MAX_ENTRIES: usize = 16384;

/// Values by key, each valid for `ttl` after it was loaded.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// A cache keeping values for `ttl`; a zero `ttl` loads every time.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value for `key`, or `load()`ed and remembered. `load` runs without the lock
    /// held, so a slow read never blocks other keys.
    pub fn get_or_load<Q>(&self, key: &Q, load: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.ttl.is_zero() {
            return load();
        }
        let now = Instant::now();
        if let Some((at, v)) = self.lock().get(key) {
            if now.duration_since(*at) < self.ttl {
                return v.clone();
            }
        }
        let v = load();
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), (now, v.clone()));
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_within_ttl_only() {
        let c: TtlCache<String, u32> = TtlCache::new(Duration::from_millis(50));
        let mut loads = 0;
        for _ in 0..3 {
            c.get_or_load("a", || {
                loads += 1;
                1
            });
        }
        assert_eq!(loads, 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get_or_load("a", || 2), 2);
        assert_eq!(c.get_or_load("b", || 3), 3);
        let none: TtlCache<String, u32> = TtlCache::new(Duration::ZERO);
        assert_eq!(none.get_or_load("a", || 1), 1);
        assert_eq!(none.get_or_load("a", || 2), 2);
    }
}
