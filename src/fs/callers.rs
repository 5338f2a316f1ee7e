//! Which container each recent caller belongs to, kept for the cache TTL: a path walk and the
//! open that follows it (two requests, often on two threads) resolve the caller once.
//!
//! A pid is not reused within a TTL (the kernel hands pids out in order, around a space of
//! `pid_max`), so an entry never names another process; a process that moves to another cgroup
//! is seen in its new one within the TTL, as changed limits are.

use super::{Stats, Unresolved};
use crate::cgroup::resolve::{ContainerId, Resolver};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Most callers remembered per shard; beyond it the shard is cleared.
const MAX_PER_SHARD: usize = 4096;
/// The smallest shard that expired entries are pruned from.
const PRUNE_MIN: usize = 64;

/// Callers by pid: their container (`None`: unresolvable) and when it was resolved; expired
/// entries are pruned when the shard has doubled since the last pruning, so short-lived
/// readers (a `cat` per read) do not fill it.
#[derive(Debug, Default)]
struct ShardMap {
    entries: HashMap<u32, (Option<ContainerId>, Instant)>,
    prune_at: usize,
}

type Shard = Mutex<ShardMap>;

/// Recent callers' containers.
#[derive(Debug)]
pub struct Callers {
    ttl: Duration,
    shards: Vec<Shard>,
}

impl Callers {
    /// Remembers callers for `ttl` (at most 1 s).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl: ttl.min(Duration::from_secs(1)),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The container of `pid` (`None`: it could not be resolved), resolved through `r` unless
    /// it was within the TTL.
    pub fn container_of(&self, r: &Resolver, pid: u32, stats: &Stats) -> Option<ContainerId> {
        let shard = &self.shards[pid as usize % SHARDS];
        let now = Instant::now();
        if let Some((id, at)) = shard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .get(&pid)
        {
            if now.duration_since(*at) < self.ttl {
                return id.clone();
            }
        }
        let id = match r.resolve(pid) {
            Ok(c) => Some(c.id),
            Err(e) => {
                stats.unresolved(Unresolved::of(pid, &e), pid, &e);
                None
            }
        };
        if !self.ttl.is_zero() {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            if map.entries.len() >= map.prune_at.max(PRUNE_MIN) {
                let ttl = self.ttl;
                map.entries
                    .retain(|_, (_, at)| now.duration_since(*at) < ttl);
                if map.entries.len() >= MAX_PER_SHARD {
                    map.entries.clear();
                }
                map.prune_at = map.entries.len() * 2;
            }
            map.entries.insert(pid, (id.clone(), now));
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::resolve::Mode;
    use crate::cgroup::Hierarchies;

    #[test]
    fn short_lived_callers_do_not_fill_the_shards() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/dev-machine");
        let h = Hierarchies::discover_at(&root.join("proc"), &root).unwrap();
        let r = Resolver::new(h, Mode::Container).unwrap();
        let stats = Stats::default();
        let callers = Callers::new(Duration::from_millis(5));
        // Pids the fixture does not have: each is resolved (to None) and remembered.
        let mut next = 100_000;
        for _round in 0..20 {
            for _ in 0..500 {
                assert_eq!(callers.container_of(&r, next, &stats), None);
                next += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let held: usize = callers
            .shards
            .iter()
            .map(|s| s.lock().unwrap().entries.len())
            .sum();
        // Without pruning the 10 000 callers would all be held; expired ones go.
        assert!(held <= 2 * 500 + SHARDS * PRUNE_MIN, "{held} held");
    }
}
