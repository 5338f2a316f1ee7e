//! Writing a container's limits: docker-style settings in, each written through the controller
//! file of the version that serves it (`v1/memory.rs`, `v2/cpu.rs`, ...), beside its reader.

use super::hierarchy::{CgroupDir, Version};
use super::snapshot::ContainerDirs;
use super::{v1, v2, Error, Result};

/// Swap setting, docker's `--memory-swap` (memory plus swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySwap {
    /// Memory plus swap may not exceed this many bytes.
    Total(u64),
    /// Swap is not limited (`-1`).
    Unlimited,
}

/// The limits of one container. `None` leaves the parent's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// Memory plus swap; with a memory limit and no setting, twice the memory (docker's
    /// default), where the kernel accounts swap.
    pub memory_swap: Option<MemorySwap>,
    /// CFS quota in microseconds per period.
    pub cpu_quota_us: Option<u64>,
    /// CFS period in microseconds (default 100 ms).
    pub cpu_period_us: Option<u64>,
    /// CPUs the container may run on, in the kernel's list format.
    pub cpuset_cpus: Option<String>,
    /// Most tasks.
    pub pids: Option<u64>,
    /// Proportional block I/O weight, 10-1000.
    pub blkio_weight: Option<u16>,
}

fn need<'a>(d: &'a Option<CgroupDir>, what: &'static str) -> Result<&'a CgroupDir> {
    d.as_ref().ok_or(Error::Unsupported(what))
}

/// Writes `l` into the container's directories.
pub fn apply(dirs: &ContainerDirs, l: &Limits) -> Result<()> {
    if let Some(mem) = l.memory {
        let d = need(&dirs.memory, "memory")?;
        match d.version {
            Version::V1 => v1::memory::write_limit(d, mem)?,
            Version::V2 => v2::memory::write_limit(d, mem)?,
        }
    }
    let swap = l
        .memory_swap
        .or(l.memory.map(|m| MemorySwap::Total(m.saturating_mul(2))));
    if let Some(swap) = swap {
        let d = need(&dirs.memory, "memory")?;
        let total = match swap {
            MemorySwap::Total(t) => Some(t),
            MemorySwap::Unlimited => None,
        };
        let accounted = match d.version {
            Version::V1 => v1::memory::write_memory_and_swap(d, total)?,
            // v2 limits swap alone.
            Version::V2 => {
                let swap_only = total.map(|t| t.saturating_sub(l.memory.unwrap_or(0)));
                v2::memory::write_swap(d, swap_only)?
            }
        };
        // The implicit default is skipped where the kernel does not account swap; an explicit
        // setting is refused.
        if !accounted && l.memory_swap.is_some() {
            return Err(Error::Unsupported("memory swap accounting"));
        }
    }
    if l.cpu_quota_us.is_some() || l.cpu_period_us.is_some() {
        let d = need(&dirs.cpu, "cpu")?;
        let period = l.cpu_period_us.unwrap_or(100_000);
        match d.version {
            Version::V1 => v1::cpu::write_quota(d, l.cpu_quota_us, period)?,
            Version::V2 => v2::cpu::write_quota(d, l.cpu_quota_us, period)?,
        }
    }
    if let Some(cpus) = &l.cpuset_cpus {
        let d = need(&dirs.cpuset, "cpuset")?;
        match d.version {
            Version::V1 => v1::cpuset::write_cpus(d, cpus)?,
            Version::V2 => v2::cpuset::write_cpus(d, cpus)?,
        }
    }
    if let Some(p) = l.pids {
        let d = need(&dirs.pids, "pids")?;
        match d.version {
            Version::V1 => v1::pids::write_max(d, p)?,
            Version::V2 => v2::pids::write_max(d, p)?,
        }
    }
    if let Some(w) = l.blkio_weight {
        let d = need(&dirs.blkio, "blkio weight")?;
        let done = match d.version {
            Version::V1 => v1::blkio::write_weight(d, w)?,
            Version::V2 => v2::io::write_weight(d, w)?,
        };
        if !done {
            return Err(Error::Unsupported("blkio weight"));
        }
    }
    Ok(())
}

/// How many processes the kernel's OOM killer killed in the container.
pub fn oom_kills(dirs: &ContainerDirs) -> u64 {
    let Some(d) = dirs.memory.as_ref() else {
        return 0;
    };
    let mut buf = Vec::with_capacity(512);
    match d.version {
        Version::V1 => v1::memory::read_oom_kills(d, &mut buf),
        Version::V2 => v2::memory::read_oom_kills(d, &mut buf),
    }
    .unwrap_or(0)
}
