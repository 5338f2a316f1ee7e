//! Renders `/proc/meminfo` for one container.
//!
//! Pure: host meminfo text + [`MemorySnapshot`] in, bytes out. Host line order is kept; values
//! the container has are rewritten in the kernel's alignment; host-wide `kB` lines are clamped
//! to the container's MemTotal; unit-less lines (`HugePages_*`) pass through unchanged. With no
//! snapshot the host file is served as it is.

use super::fmt::push_u64_width;
use crate::cgroup::MemorySnapshot;
use crate::host::{lines, meminfo};

/// The container's figures in kB, computed once and shared with `swaps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemFigures {
    /// MemTotal.
    pub total: u64,
    /// MemFree.
    pub free: u64,
    /// MemAvailable.
    pub available: u64,
    /// SwapTotal.
    pub swap_total: u64,
    /// SwapFree.
    pub swap_free: u64,
    /// AnonPages, at most what the cgroup uses (MemTotal - MemFree).
    pub anon: u64,
    /// Cached, at most what the cgroup uses beyond `anon`.
    pub cached: u64,
    /// SReclaimable (and KReclaimable), at most what the cgroup uses beyond `anon + cached`.
    pub sreclaimable: u64,
}

impl MemFigures {
    /// Computes the headline figures from the host's MemTotal/SwapTotal (kB) and the snapshot.
    pub fn new(host_total_kb: u64, host_swap_kb: u64, mem: &MemorySnapshot) -> Self {
        let total = mem
            .limit
            .map_or(host_total_kb, |l| (l / 1024).min(host_total_kb));
        let usage = mem.usage / 1024;
        let free = total.saturating_sub(usage);
        let s = &mem.stat;
        let file_lru = match (s.active_file, s.inactive_file) {
            (Some(a), Some(i)) => a.saturating_add(i),
            _ => s.file.unwrap_or(0).saturating_sub(s.shmem.unwrap_or(0)),
        };
        let reclaimable = file_lru.saturating_add(s.slab_reclaimable.unwrap_or(0)) / 1024;
        let available = free.saturating_add(reclaimable).min(total);
        // busybox `free` shows MemTotal - MemFree - Cached - SReclaimable - Buffers as "used",
        // unsigned, with MemFree from sysinfo(2), read a moment before. Anonymous pages, page
        // cache and slab are all part of the usage, but the stat file lags the usage counter
        // (v2 flushes it lazily), so uncapped a shrinking cache showed 18014398509481953 kB
        // used. Keeping the anonymous pages inside the usage, and the cache and slab inside
        // what is left, holds the kernel's invariant and leaves `free` a margin for what the
        // container allocates between the two reads.
        let used = total - free;
        let anon = (s.anon.unwrap_or(0) / 1024).min(used);
        let cached = (s.file.unwrap_or(0) / 1024).min(used - anon);
        let sreclaimable = (s.slab_reclaimable.unwrap_or(0) / 1024).min(used - anon - cached);
        let (swap_total, swap_free) = match &mem.swap {
            Some(sw) => {
                let t = sw
                    .limit
                    .map_or(host_swap_kb, |l| (l / 1024).min(host_swap_kb));
                (t, t.saturating_sub(sw.usage / 1024))
            }
            None => (0, 0),
        };
        Self {
            total,
            free,
            available,
            swap_total,
            swap_free,
            anon,
            cached,
            sreclaimable,
        }
    }
}

/// Renders the container's meminfo into `out`.
pub fn render(host: &[u8], mem: Option<&MemorySnapshot>, out: &mut Vec<u8>) {
    let Some(mem) = mem else {
        out.extend_from_slice(host);
        return;
    };
    let host_total = meminfo::value(host, b"MemTotal").unwrap_or(0);
    let host_swap = meminfo::value(host, b"SwapTotal").unwrap_or(0);
    if host_total == 0 {
        // Without the host's MemTotal there is no cap to apply: serve the host file.
        out.extend_from_slice(host);
        return;
    }
    let f = MemFigures::new(host_total, host_swap, mem);
    for line in lines(host) {
        match meminfo::split(line) {
            Some(l) => match value_for(l.key, &f, mem, l.value) {
                Some(v) => push_kb_line(out, l.key, v.min(cap_for(l.key, &f))),
                None if l.kb && l.value.is_some_and(|v| v > f.total) => {
                    push_kb_line(out, l.key, f.total)
                }
                None => out.extend_from_slice(line),
            },
            None => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
}

/// Lines whose value may legitimately exceed MemTotal.
fn cap_for(key: &[u8], f: &MemFigures) -> u64 {
    match key {
        b"SwapTotal" | b"SwapFree" => f.swap_total,
        b"CommitLimit" => f.total.saturating_add(f.swap_total),
        _ => f.total,
    }
}

/// The container's value for a line in kB, or `None` to keep (clamped) the host's.
fn value_for(key: &[u8], f: &MemFigures, mem: &MemorySnapshot, host: Option<u64>) -> Option<u64> {
    let s = &mem.stat;
    let kb = |v: Option<u64>| v.unwrap_or(0) / 1024;
    let sum =
        |a: Option<u64>, b: Option<u64>| kb(Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))));
    let v = match key {
        b"MemTotal" => f.total,
        b"MemFree" => f.free,
        b"MemAvailable" => f.available,
        b"Buffers" | b"SwapCached" => 0,
        b"Cached" => f.cached,
        b"Active" => sum(s.active_anon, s.active_file),
        b"Inactive" => sum(s.inactive_anon, s.inactive_file),
        b"Active(anon)" => kb(s.active_anon),
        b"Inactive(anon)" => kb(s.inactive_anon),
        b"Active(file)" => kb(s.active_file),
        b"Inactive(file)" => kb(s.inactive_file),
        b"Unevictable" => kb(s.unevictable),
        // Mlocked pages are a subset of the unevictable ones; the cgroup does not count them.
        b"Mlocked" => host.unwrap_or(0).min(kb(s.unevictable)),
        b"SwapTotal" => f.swap_total,
        b"SwapFree" => f.swap_free,
        b"Dirty" => kb(s.file_dirty),
        b"Writeback" => kb(s.file_writeback),
        b"AnonPages" => f.anon,
        b"Mapped" => kb(s.file_mapped),
        b"Shmem" => kb(s.shmem),
        b"KReclaimable" | b"SReclaimable" => f.sreclaimable,
        b"Slab" => kb(s.slab.or_else(|| {
            s.slab_reclaimable
                .zip(s.slab_unreclaimable)
                .map(|(a, b)| a.saturating_add(b))
        })),
        b"SUnreclaim" => kb(s.slab_unreclaimable),
        b"KernelStack" => kb(s.kernel_stack),
        b"PageTables" => kb(s.pagetables),
        b"AnonHugePages" => kb(s.anon_thp),
        // Container-scoped pages the cgroup does not break down: none of the host's are its.
        b"ShmemHugePages" | b"ShmemPmdMapped" | b"FileHugePages" | b"FilePmdMapped"
        | b"SecPageTables" | b"NFS_Unstable" | b"Bounce" | b"WritebackTmp" | b"Zswap"
        | b"Zswapped" | b"Percpu" | b"HardwareCorrupted" => 0,
        b"CommitLimit" => f.total.saturating_add(f.swap_total),
        _ => return None,
    };
    Some(v)
}

/// `Key:` padded to 16 columns, the value right-aligned in 8, then ` kB`, as the kernel writes.
fn push_kb_line(out: &mut Vec<u8>, key: &[u8], kb: u64) {
    let start = out.len();
    out.extend_from_slice(key);
    out.push(b':');
    let pad = 16usize.saturating_sub(out.len() - start);
    out.resize(out.len() + pad, b' ');
    push_u64_width(out, kb, 8);
    out.extend_from_slice(b" kB");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::{MemoryStat, SwapSnapshot};

    const HOST: &[u8] = b"MemTotal:       24684084 kB\nMemFree:        24079232 kB\nMemAvailable:   24395460 kB\nBuffers:           10092 kB\nCached:           440008 kB\nSwapTotal:       1048572 kB\nSwapFree:        1048572 kB\nCommitted_AS:    1287616 kB\nVmallocTotal:   34359738367 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\nDirectMap1G:    25165824 kB\n";

    fn mib(n: u64) -> u64 {
        n * 1024 * 1024
    }

    fn snap() -> MemorySnapshot {
        MemorySnapshot {
            limit: Some(mib(256)),
            usage: mib(64),
            swap: Some(SwapSnapshot {
                limit: Some(mib(128)),
                usage: mib(1),
            }),
            stat: MemoryStat {
                file: Some(mib(32)),
                active_file: Some(mib(8)),
                inactive_file: Some(mib(24)),
                ..MemoryStat::default()
            },
        }
    }

    fn render_str(host: &[u8], mem: Option<&MemorySnapshot>) -> String {
        let mut out = Vec::new();
        render(host, mem, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn limit_rewrites_in_kernel_alignment() {
        let s = render_str(HOST, Some(&snap()));
        assert!(s.starts_with("MemTotal:         262144 kB\nMemFree:          196608 kB\nMemAvailable:     229376 kB\nBuffers:               0 kB\nCached:            32768 kB\n"), "{s}");
        assert!(s.contains("SwapTotal:        131072 kB\nSwapFree:         130048 kB\n"));
        assert!(s.contains("Committed_AS:     262144 kB\n"));
        assert!(s.contains("VmallocTotal:     262144 kB\n"));
        assert!(s.contains("HugePages_Total:       0\nHugepagesize:       2048 kB\n"));
    }

    #[test]
    fn usage_above_limit_never_underflows() {
        let mut m = snap();
        m.usage = mib(300);
        let s = render_str(HOST, Some(&m));
        assert!(s.contains("MemFree:               0 kB"), "{s}");
        assert!(s.contains("MemAvailable:      32768 kB"), "{s}");
    }

    /// The v2 lane's busybox `free` once showed 18014398509481953 kB used: memory.stat's file
    /// pages (flushed lazily) exceeded memory.current. MemFree + AnonPages + Cached +
    /// SReclaimable stays within MemTotal.
    #[test]
    fn free_plus_cache_never_exceeds_total() {
        let mut m = snap();
        m.usage = mib(40);
        m.stat.anon = Some(mib(2));
        m.stat.file = Some(mib(48));
        m.stat.slab_reclaimable = Some(mib(4));
        let host = [
            HOST,
            b"AnonPages:        500000 kB\nSReclaimable:      90000 kB\n",
        ]
        .concat();
        let s = render_str(&host, Some(&m));
        let kb = |key: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().strip_suffix(" kB"))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(kb("MemFree:"), 221184, "{s}");
        assert_eq!(kb("AnonPages:"), 2048, "{s}");
        assert_eq!(kb("Cached:"), 38912, "{s}");
        assert_eq!(kb("SReclaimable:"), 0, "{s}");
        // With room for both, both are shown as they are.
        m.usage = mib(64);
        let s = render_str(&host, Some(&m));
        assert!(s.contains("Cached:            49152 kB\n"), "{s}");
        assert!(s.contains("SReclaimable:       4096 kB\n"), "{s}");
    }

    #[test]
    fn no_snapshot_or_broken_host_is_verbatim() {
        assert_eq!(render_str(HOST, None).as_bytes(), HOST);
        assert_eq!(render_str(b"garbage\n", Some(&snap())), "garbage\n");
    }

    #[test]
    fn unlimited_uses_host_total() {
        let mut m = snap();
        m.limit = None;
        m.swap = None;
        let s = render_str(HOST, Some(&m));
        assert!(s.starts_with("MemTotal:       24684084 kB\n"), "{s}");
        assert!(s.contains("SwapTotal:             0 kB\n"));
    }
}
