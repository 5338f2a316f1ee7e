//! The containers the mount has node ids for: slot number -> [`ContainerId`], shared by both
//! trees, and which views-tree files were converted to per-reader files.
//!
//! The kernel keeps node ids for as long as it likes (a view bound into a container holds its
//! node for the container's life), so the table outlives any one worker: every new slot is
//! appended to a file (`/run/vproc/serve/<mountpoint>.slots`) before the reply that hands its
//! node out, and a worker loads the file when it starts and again when it meets a slot it does
//! not know (one created by its predecessor while both were serving). Slots carry the worker's
//! generation in their upper bits, so two workers serving side by side during an upgrade never
//! hand out the same number for different containers.
//!
//! Containers come and go for the life of the daemon: when the table has doubled since it was
//! last swept, the slots of containers that are gone (no reader can be in them any more) are
//! dropped, here and from the file, which is rewritten under a lock that appends also take.

use crate::cgroup::resolve::ContainerId;
use crate::views::ViewId;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Bits of a slot number that count within one worker generation.
const COUNTER_BITS: u32 = 32;
/// Slots are 55 bits (node ids are `slot << 8 | part`; the top bit marks the host's entries,
/// see `passthrough.rs`).
const SLOT_MASK: u64 = (1 << 55) - 1;

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    slots: HashMap<u64, ContainerId>,
    /// The slot new lookups of a container get.
    current: HashMap<ContainerId, u64>,
    /// Views-tree files turned per-reader: bit `view.index()` of the slot's mask.
    converted: HashMap<u64, u32>,
    /// Table size at which the next sweep runs.
    sweep_at: usize,
    /// The file as it was last loaded (length, modification time): an unknown slot reloads it
    /// only if it changed, so a swept slot costs one `stat`, not a read of the file.
    loaded: Option<(u64, i64, i64)>,
}

/// The smallest table that is swept.
const SWEEP_MIN: usize = 1024;

/// The slot table of one mount.
#[derive(Debug)]
pub struct Registry {
    inner: Mutex<Inner>,
    file: Option<PathBuf>,
}

impl Registry {
    /// A table for worker generation `generation`, persisted in `file` (and loaded from it).
    pub fn new(file: Option<PathBuf>, generation: u64) -> Self {
        let r = Self {
            inner: Mutex::default(),
            file,
        };
        r.load();
        // Above every generation already in the file: a supervisor restarted through the fd
        // store counts generations from 1 again, while the kernel still holds the old slots.
        let loaded = r.lock().slots.keys().map(|s| s >> COUNTER_BITS).max();
        let generation = loaded.map_or(generation, |g| generation.max(g + 1));
        let mut inner = r.lock();
        inner.next = ((generation << COUNTER_BITS) & SLOT_MASK).max(1);
        inner.sweep_at = (inner.slots.len() * 2).max(SWEEP_MIN);
        drop(inner);
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot of container `id` for new lookups (of `view`, in the views tree), created (and
    /// persisted) if it has none, or if that view of its slot was converted to per-reader.
    pub fn slot_for(&self, id: &ContainerId, view: Option<ViewId>) -> u64 {
        {
            let inner = self.lock();
            if let Some(&s) = inner.current.get(id) {
                let converted = view.is_some_and(|v| {
                    inner
                        .converted
                        .get(&s)
                        .is_some_and(|m| m & (1 << v.index()) != 0)
                });
                if !converted {
                    return s;
                }
            }
        }
        self.new_slot(id)
    }

    fn new_slot(&self, id: &ContainerId) -> u64 {
        let mut inner = self.lock();
        let slot = inner.next;
        inner.next = (inner.next + 1) & SLOT_MASK;
        inner.slots.insert(slot, id.clone());
        inner.current.insert(id.clone(), slot);
        drop(inner);
        self.append(&format!("slot {slot} {}", encode_id(id)));
        slot
    }

    /// The container of `slot`, reloading the file once if this worker does not know it.
    pub fn container(&self, slot: u64) -> Option<ContainerId> {
        if let Some(id) = self.lock().slots.get(&slot) {
            return Some(id.clone());
        }
        self.load();
        self.lock().slots.get(&slot).cloned()
    }

    /// Whether the views-tree file `(slot, view)` serves per reader.
    pub fn is_converted(&self, slot: u64, view: ViewId) -> bool {
        self.lock()
            .converted
            .get(&slot)
            .is_some_and(|m| m & (1 << view.index()) != 0)
    }

    /// Turns `(slot, view)` into a per-reader file (later lookups of that view by its container
    /// get a fresh slot). Returns `false` if it already was.
    pub fn convert(&self, slot: u64, view: ViewId) -> bool {
        {
            let mut inner = self.lock();
            let mask = inner.converted.entry(slot).or_default();
            if *mask & (1 << view.index()) != 0 {
                return false;
            }
            *mask |= 1 << view.index();
        }
        self.append(&format!("converted {slot} {}", view.index()));
        true
    }

    /// Drops the slots of containers that `is_gone` says are gone, if the table has doubled
    /// since the last sweep. Returns how many were dropped.
    pub fn sweep_if_due(&self, is_gone: impl Fn(&ContainerId) -> bool) -> usize {
        let candidates: Vec<(u64, ContainerId)> = {
            let inner = self.lock();
            if inner.slots.len() < inner.sweep_at {
                return 0;
            }
            inner.slots.iter().map(|(s, id)| (*s, id.clone())).collect()
        };
        // Judged outside the lock: each judgement reads /proc or stats a cgroup directory.
        let gone: std::collections::HashSet<u64> = candidates
            .into_iter()
            .filter(|(_, id)| is_gone(id))
            .map(|(s, _)| s)
            .collect();
        let mut inner = self.lock();
        for s in &gone {
            if let Some(id) = inner.slots.remove(s) {
                if inner.current.get(&id) == Some(s) {
                    inner.current.remove(&id);
                }
            }
            inner.converted.remove(s);
        }
        inner.sweep_at = (inner.slots.len() * 2).max(SWEEP_MIN);
        drop(inner);
        if !gone.is_empty() {
            self.rewrite_without(&gone);
        }
        gone.len()
    }

    /// Every known slot (for a new worker's first invalidation pass).
    pub fn slots(&self) -> Vec<u64> {
        self.lock().slots.keys().copied().collect()
    }

    fn append(&self, line: &str) {
        let Some(path) = &self.file else { return };
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|f| locked(f, LockKind::Exclusive))
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = r {
            tracing::warn!(error = %e, path = %path.display(), "recording a container slot; a worker restart will not know it");
        }
    }

    /// Rewrites the file in place without the lines of `gone` slots (in place, under the lock,
    /// so a worker appending meanwhile waits rather than writing to a replaced file).
    fn rewrite_without(&self, gone: &std::collections::HashSet<u64>) {
        use std::io::{Read, Seek};
        let Some(path) = &self.file else { return };
        let r = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .and_then(|f| locked(f, LockKind::Exclusive))
            .and_then(|mut f| {
                let mut text = String::new();
                f.read_to_string(&mut text)?;
                let kept: String = text
                    .lines()
                    .filter(|l| {
                        let slot = l.split(' ').nth(1).and_then(|s| s.parse::<u64>().ok());
                        !slot.is_some_and(|s| gone.contains(&s))
                    })
                    .flat_map(|l| [l, "\n"])
                    .collect();
                f.rewind()?;
                f.set_len(0)?;
                f.write_all(kept.as_bytes())
            });
        if let Err(e) = r {
            tracing::warn!(error = %e, path = %path.display(), "compacting the slot file");
        }
    }

    /// Reads the file if it changed since it was last read; lines this worker already knows
    /// are idempotent, malformed ones skipped.
    fn load(&self) {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let Some(path) = &self.file else { return };
        let Ok(mut f) = std::fs::File::open(path).and_then(|f| locked(f, LockKind::Shared)) else {
            return;
        };
        let Ok(meta) = f.metadata() else { return };
        let stamp = Some((meta.len(), meta.mtime(), meta.mtime_nsec()));
        if self.lock().loaded == stamp {
            return;
        }
        let mut text = String::new();
        if f.read_to_string(&mut text).is_err() {
            return;
        }
        let mut inner = self.lock();
        for line in text.lines() {
            let mut f = line.splitn(3, ' ');
            match (
                f.next(),
                f.next().and_then(|s| s.parse::<u64>().ok()),
                f.next(),
            ) {
                (Some("slot"), Some(slot), Some(rest)) => {
                    let Some(id) = decode_id(rest) else { continue };
                    inner.slots.insert(slot, id.clone());
                    // The newest slot of a container (the highest: generations count up) is
                    // its current one.
                    let cur = inner.current.entry(id).or_insert(slot);
                    *cur = (*cur).max(slot);
                }
                (Some("converted"), Some(slot), Some(v)) => {
                    if let Some(view) = v.parse::<usize>().ok().and_then(|i| ViewId::ALL.get(i)) {
                        *inner.converted.entry(slot).or_default() |= 1 << view.index();
                    }
                }
                _ => {}
            }
        }
        inner.loaded = stamp;
    }
}

enum LockKind {
    Shared,
    Exclusive,
}

/// `f` with an advisory lock held until it is dropped.
fn locked(f: std::fs::File, kind: LockKind) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    let arg = match kind {
        LockKind::Shared => nix::fcntl::FlockArg::LockShared,
        LockKind::Exclusive => nix::fcntl::FlockArg::LockExclusive,
    };
    nix::fcntl::Flock::lock(f, arg).map_err(|(_, e)| std::io::Error::from(e))
}

/// `init PID START` or `cgroup START|- HEX`.
fn encode_id(id: &ContainerId) -> String {
    match id {
        ContainerId::Init { pid, start_ticks } => format!("init {pid} {start_ticks}"),
        ContainerId::Cgroup {
            membership,
            start_ticks,
        } => {
            let start = start_ticks.map_or("-".to_owned(), |s| s.to_string());
            let hex: String = membership.iter().map(|b| format!("{b:02x}")).collect();
            format!("cgroup {start} {hex}")
        }
    }
}

/// Reads a slot's container as the slots file records it.
pub fn decode_id(s: &str) -> Option<ContainerId> {
    let mut f = s.split(' ');
    match f.next()? {
        "init" => Some(ContainerId::Init {
            pid: f.next()?.parse().ok()?,
            start_ticks: f.next()?.parse().ok()?,
        }),
        "cgroup" => {
            let start = match f.next()? {
                "-" => None,
                n => Some(n.parse().ok()?),
            };
            let hex = f.next().unwrap_or("");
            if !hex.len().is_multiple_of(2) {
                return None;
            }
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            Some(ContainerId::Cgroup {
                membership: Arc::from(bytes?),
                start_ticks: start,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ContainerId, ContainerId) {
        (
            ContainerId::Init {
                pid: 42,
                start_ticks: 9000,
            },
            ContainerId::Cgroup {
                membership: Arc::from(&b"4:memory:/a b\n0::/x\n"[..]),
                start_ticks: None,
            },
        )
    }

    #[test]
    fn slots_survive_a_new_worker_and_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slots");
        let (a, b) = ids();
        let first = Registry::new(Some(file.clone()), 1);
        let sa = first.slot_for(&a, None);
        let sb = first.slot_for(&b, None);
        assert_ne!(sa, sb);
        assert_eq!(first.slot_for(&a, Some(ViewId::Meminfo)), sa);
        // The successor knows them, and its own new slots are in its own range.
        let second = Registry::new(Some(file.clone()), 2);
        assert_eq!(second.container(sa), Some(a.clone()));
        assert_eq!(second.container(sb), Some(b.clone()));
        assert_eq!(second.slot_for(&a, None), sa);
        let c = ContainerId::Init {
            pid: 7,
            start_ticks: 1,
        };
        let sc = second.slot_for(&c, None);
        // A restarted supervisor counts generations from 1 again: its slots still never
        // collide with those the kernel holds.
        let restarted = Registry::new(Some(file.clone()), 1);
        let e = ContainerId::Init {
            pid: 9,
            start_ticks: 3,
        };
        let se = restarted.slot_for(&e, None);
        assert!(se > sc && se > sa, "{se} {sc} {sa}");
        // A slot the predecessor creates after the successor loaded is found on demand.
        let d = ContainerId::Init {
            pid: 8,
            start_ticks: 2,
        };
        let sd = first.slot_for(&d, None);
        assert_ne!(sc, sd);
        assert_eq!(second.container(sd), Some(d));
        // Conversion is remembered, and the container moves to a fresh slot.
        assert!(second.convert(sa, ViewId::Meminfo));
        assert!(!second.convert(sa, ViewId::Meminfo));
        assert!(second.is_converted(sa, ViewId::Meminfo));
        assert!(!second.is_converted(sa, ViewId::Stat));
        assert_eq!(second.slot_for(&a, Some(ViewId::Stat)), sa);
        let moved = second.slot_for(&a, Some(ViewId::Meminfo));
        assert_ne!(moved, sa);
        let third = Registry::new(Some(file), 3);
        assert!(third.is_converted(sa, ViewId::Meminfo));
        assert_eq!(third.slot_for(&a, Some(ViewId::Meminfo)), moved);
    }

    #[test]
    fn gone_containers_are_swept_here_and_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slots");
        let r = Registry::new(Some(file.clone()), 1);
        let id = |pid| ContainerId::Init {
            pid,
            start_ticks: 1,
        };
        let odd_gone =
            |id: &ContainerId| matches!(id, ContainerId::Init { pid, .. } if pid % 2 == 1);
        for pid in 0..SWEEP_MIN as u32 - 1 {
            r.slot_for(&id(pid), None);
        }
        assert_eq!(r.sweep_if_due(odd_gone), 0, "not due below {SWEEP_MIN}");
        let last = r.slot_for(&id(5000), None);
        let kept = r.slot_for(&id(2), None);
        assert!(r.convert(r.slot_for(&id(3), None), ViewId::Stat));
        assert_eq!(r.sweep_if_due(odd_gone), SWEEP_MIN / 2 - 1);
        assert_eq!(
            r.sweep_if_due(odd_gone),
            0,
            "next sweep when the table doubles"
        );
        assert_eq!(r.container(kept), Some(id(2)));
        assert_eq!(r.container(last), Some(id(5000)));
        let swept = r.slot_for(&id(3), None);
        assert!(!r.is_converted(swept, ViewId::Stat));
        // The file holds what the table holds: a successor knows the same containers.
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), SWEEP_MIN / 2 + 2, "{text}");
        assert!(!text.contains("converted"));
        let next = Registry::new(Some(file), 2);
        assert_eq!(next.container(kept), Some(id(2)));
        assert_eq!(next.slot_for(&id(3), None), swept);
        assert_eq!(next.slots().len(), SWEEP_MIN / 2 + 2);
    }

    #[test]
    fn ids_round_trip_and_garbage_is_skipped() {
        let (a, b) = ids();
        for id in [a, b] {
            assert_eq!(decode_id(&encode_id(&id)), Some(id));
        }
        assert_eq!(decode_id("cgroup - 0"), None);
        assert_eq!(decode_id("init x 1"), None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slots");
        std::fs::write(
            &file,
            "garbage\nslot x y\nconverted 1 99\nslot 5 init 1 2\n",
        )
        .unwrap();
        let r = Registry::new(Some(file), 1);
        assert!(r.container(5).is_some());
    }
}
