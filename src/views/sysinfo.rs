//! The numbers `sysinfo(2)` returns to a container's process (busybox `free` and `uptime`,
//! glibc's `sysconf(_SC_PHYS_PAGES)` and `_SC_AVPHYS_PAGES`, a JVM without container support):
//! the same figures as the file views, from the same snapshot. Memory in bytes (`mem_unit` 1):
//! RAM as meminfo's MemTotal and MemFree, shared as Shmem, buffers 0 (a cgroup has none), swap
//! as SwapTotal and SwapFree; uptime the container's age (as the uptime view); loads the
//! container's load averages (as the loadavg view); procs its task count. `None` inputs keep
//! the host's values, field by field.

use super::loadavg::LoadAvg;
use super::meminfo::MemFigures;

/// What `sysinfo(2)` reports, in its own units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sysinfo {
    /// Seconds since boot.
    pub uptime: u64,
    /// 1, 5 and 15-minute load averages, fixed point with 16 fraction bits (SI_LOAD_SHIFT).
    pub loads: [u64; 3],
    /// Bytes of RAM (`mem_unit` is 1).
    pub totalram: u64,
    /// Bytes free.
    pub freeram: u64,
    /// Bytes of shared memory.
    pub sharedram: u64,
    /// Bytes of buffers.
    pub bufferram: u64,
    /// Bytes of swap.
    pub totalswap: u64,
    /// Bytes of swap free.
    pub freeswap: u64,
    /// Processes (tasks), as the kernel counts them (an u16 there: at most 65535).
    pub procs: u16,
}

/// The load averages' shift in `sysinfo` (16) against the kernel's `avenrun` (11).
const SHIFT_UP: u32 = 16 - 11;

/// The container's sysinfo, from the host's (`host`) and what the views know of it.
pub fn compute(
    host: Sysinfo,
    memory: Option<&MemFigures>,
    shmem_bytes: Option<u64>,
    uptime_s: Option<u64>,
    load: Option<&LoadAvg>,
    tasks: Option<u64>,
) -> Sysinfo {
    let mut s = host;
    if let Some(m) = memory {
        s.totalram = m.total.saturating_mul(1024);
        s.freeram = m.free.saturating_mul(1024);
        s.bufferram = 0;
        s.totalswap = m.swap_total.saturating_mul(1024);
        s.freeswap = m.swap_free.saturating_mul(1024);
        if let Some(sh) = shmem_bytes {
            s.sharedram = sh.min(s.totalram);
        }
    }
    if let Some(u) = uptime_s {
        s.uptime = u;
    }
    if let Some(l) = load {
        s.loads = l.avenrun.map(|a| a.saturating_mul(1 << SHIFT_UP));
    }
    if let Some(t) = tasks {
        s.procs = u16::try_from(t).unwrap_or(u16::MAX);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_figures_replace_the_hosts() {
        let host = Sysinfo {
            uptime: 100_000,
            loads: [5 << 16, 4 << 16, 3 << 16],
            totalram: 24 << 30,
            freeram: 20 << 30,
            sharedram: 1 << 20,
            bufferram: 300 << 20,
            totalswap: 0,
            freeswap: 0,
            procs: 900,
        };
        let m = MemFigures {
            total: 262144,
            free: 200000,
            available: 250000,
            swap_total: 0,
            swap_free: 0,
            anon: 0,
            cached: 0,
            sreclaimable: 0,
        };
        let load = LoadAvg {
            avenrun: [1 << 11, 1 << 10, 0],
            running: 1,
            total: 3,
            last_pid: 7,
        };
        let s = compute(host, Some(&m), Some(4096), Some(12), Some(&load), Some(3));
        assert_eq!(s.totalram, 256 << 20);
        assert_eq!(s.freeram, 200000 * 1024);
        assert_eq!((s.sharedram, s.bufferram), (4096, 0));
        assert_eq!(s.uptime, 12);
        assert_eq!(s.loads, [1 << 16, 1 << 15, 0]);
        assert_eq!(s.procs, 3);
        // Nothing known: the host's.
        assert_eq!(compute(host, None, None, None, None, None), host);
    }
}
