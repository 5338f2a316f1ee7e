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

/// Callers by pid: their container (`None`: unresolvable) and when it was resolved.
type Shard = Mutex<HashMap<u32, (Option<ContainerId>, Instant)>>;

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
        if let Some((id, at)) = shard.lock().unwrap_or_else(|p| p.into_inner()).get(&pid) {
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
            if map.len() >= MAX_PER_SHARD {
                map.clear();
            }
            map.insert(pid, (id.clone(), now));
        }
        id
    }
}
