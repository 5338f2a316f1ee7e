//! Version-neutral snapshots of one container's cgroup state: what the views are given.
//!
//! Every quantity carries its unit in its name or doc. "No limit" is `None`, never `u64::MAX`.

use super::hierarchy::CgroupDir;
use super::CpuSet;

/// Memory state of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySnapshot {
    /// Bytes: the smallest memory limit of the cgroup and its ancestors; `None` if none is set.
    pub limit: Option<u64>,
    /// Bytes of memory charged to the cgroup (page cache included).
    pub usage: u64,
    /// Swap, when the kernel accounts it for this cgroup.
    pub swap: Option<SwapSnapshot>,
    /// The keys of `memory.stat` the views use.
    pub stat: MemoryStat,
}

/// Swap of a container, swap only (v1's memory+swap figures are converted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapSnapshot {
    /// Bytes of swap the cgroup may use; `None` if unlimited.
    pub limit: Option<u64>,
    /// Bytes of swap in use.
    pub usage: u64,
}

/// `memory.stat`, in bytes, under v2 names; v1 `total_*` keys are mapped onto them.
/// A key the kernel did not write is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct MemoryStat {
    pub anon: Option<u64>,
    /// Page cache, shmem included (v1 `total_cache`).
    pub file: Option<u64>,
    pub kernel_stack: Option<u64>,
    pub pagetables: Option<u64>,
    pub shmem: Option<u64>,
    /// v1 `total_mapped_file`.
    pub file_mapped: Option<u64>,
    /// v1 `total_dirty`.
    pub file_dirty: Option<u64>,
    /// v1 `total_writeback`.
    pub file_writeback: Option<u64>,
    /// v1 `total_rss_huge`.
    pub anon_thp: Option<u64>,
    pub active_anon: Option<u64>,
    pub inactive_anon: Option<u64>,
    pub active_file: Option<u64>,
    pub inactive_file: Option<u64>,
    pub unevictable: Option<u64>,
    pub slab: Option<u64>,
    pub slab_reclaimable: Option<u64>,
    pub slab_unreclaimable: Option<u64>,
    /// Event counters that mean the same as `/proc/vmstat`'s of the same name.
    pub events: MemoryEvents,
}

/// `memory.stat` event counters (counts, not bytes) whose names and meaning are the same as in
/// `/proc/vmstat` (v1 has only `total_pgfault` and `total_pgmajfault` of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct MemoryEvents {
    pub pgfault: Option<u64>,
    pub pgmajfault: Option<u64>,
    pub pswpin: Option<u64>,
    pub pswpout: Option<u64>,
    pub workingset_refault_anon: Option<u64>,
    pub workingset_refault_file: Option<u64>,
    pub workingset_activate_anon: Option<u64>,
    pub workingset_activate_file: Option<u64>,
    pub workingset_restore_anon: Option<u64>,
    pub workingset_restore_file: Option<u64>,
    pub pgactivate: Option<u64>,
    pub pgdeactivate: Option<u64>,
    pub pglazyfree: Option<u64>,
    pub pglazyfreed: Option<u64>,
    pub thp_fault_alloc: Option<u64>,
    pub thp_collapse_alloc: Option<u64>,
}

impl MemoryEvents {
    /// The counter `/proc/vmstat` calls `name`, if the cgroup has it.
    pub fn get(&self, name: &[u8]) -> Option<u64> {
        match name {
            b"pgfault" => self.pgfault,
            b"pgmajfault" => self.pgmajfault,
            b"pswpin" => self.pswpin,
            b"pswpout" => self.pswpout,
            b"workingset_refault_anon" => self.workingset_refault_anon,
            b"workingset_refault_file" => self.workingset_refault_file,
            b"workingset_activate_anon" => self.workingset_activate_anon,
            b"workingset_activate_file" => self.workingset_activate_file,
            b"workingset_restore_anon" => self.workingset_restore_anon,
            b"workingset_restore_file" => self.workingset_restore_file,
            b"pgactivate" => self.pgactivate,
            b"pgdeactivate" => self.pgdeactivate,
            b"pglazyfree" => self.pglazyfree,
            b"pglazyfreed" => self.pglazyfreed,
            b"thp_fault_alloc" => self.thp_fault_alloc,
            b"thp_collapse_alloc" => self.thp_collapse_alloc,
            _ => None,
        }
    }

    /// Sets the counter `memory.stat` (v2) calls `name`; false for any other name.
    pub fn set(&mut self, name: &[u8], v: u64) -> bool {
        let slot = match name {
            b"pgfault" => &mut self.pgfault,
            b"pgmajfault" => &mut self.pgmajfault,
            b"pswpin" => &mut self.pswpin,
            b"pswpout" => &mut self.pswpout,
            b"workingset_refault_anon" => &mut self.workingset_refault_anon,
            b"workingset_refault_file" => &mut self.workingset_refault_file,
            b"workingset_activate_anon" => &mut self.workingset_activate_anon,
            b"workingset_activate_file" => &mut self.workingset_activate_file,
            b"workingset_restore_anon" => &mut self.workingset_restore_anon,
            b"workingset_restore_file" => &mut self.workingset_restore_file,
            b"pgactivate" => &mut self.pgactivate,
            b"pgdeactivate" => &mut self.pgdeactivate,
            b"pglazyfree" => &mut self.pglazyfree,
            b"pglazyfreed" => &mut self.pglazyfreed,
            b"thp_fault_alloc" => &mut self.thp_fault_alloc,
            b"thp_collapse_alloc" => &mut self.thp_collapse_alloc,
            _ => return false,
        };
        *slot = Some(v);
        true
    }
}

/// A CFS bandwidth limit: `quota_us` of CPU time per `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    /// Microseconds of CPU time allowed per period.
    pub quota_us: u64,
    /// Microseconds per period (never 0).
    pub period_us: u64,
}

impl CpuQuota {
    /// A quota if the numbers are usable (period > 0).
    pub fn new(quota_us: u64, period_us: u64) -> Option<Self> {
        (period_us > 0).then_some(Self {
            quota_us,
            period_us,
        })
    }

    /// Whether `self` allows less CPU than `other`.
    pub fn is_tighter_than(&self, other: &CpuQuota) -> bool {
        u128::from(self.quota_us) * u128::from(other.period_us)
            < u128::from(other.quota_us) * u128::from(self.period_us)
    }

    /// CPUs this quota amounts to, rounded up (0.5 -> 1, 1.5 -> 2), at least 1.
    pub fn cpus_ceil(&self) -> u64 {
        self.quota_us.div_ceil(self.period_us).max(1)
    }
}

/// CPU usage of a container since its cgroup was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// Nanoseconds in user mode, all CPUs.
    pub user_ns: u64,
    /// Nanoseconds in kernel mode, all CPUs.
    pub system_ns: u64,
    /// Per host CPU, when the kernel splits it (v1 cpuacct); empty on v2.
    pub per_cpu: Vec<PerCpuUsage>,
}

/// Usage on one host CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerCpuUsage {
    /// The host CPU id.
    pub cpu: usize,
    /// Nanoseconds in user mode.
    pub user_ns: u64,
    /// Nanoseconds in kernel mode.
    pub system_ns: u64,
}

/// CPU limits and usage; each part read independently and `None` when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuSnapshot {
    /// The tightest CFS quota of the cgroup and its ancestors; `None` if none is set.
    pub quota: Option<CpuQuota>,
    /// The effective cpuset.
    pub cpuset: Option<CpuSet>,
    /// CPU time used.
    pub usage: Option<CpuUsage>,
}

/// I/O done by a container on one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct IoDevice {
    pub major: u32,
    pub minor: u32,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ios: u64,
    pub write_ios: u64,
    pub discard_bytes: u64,
    pub discard_ios: u64,
}

/// I/O done by a container, per device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoSnapshot {
    /// One entry per device the container did I/O on.
    pub devices: Vec<IoDevice>,
}

impl IoSnapshot {
    /// The entry for a device, if the container touched it.
    pub fn device(&self, major: u32, minor: u32) -> Option<&IoDevice> {
        self.devices
            .iter()
            .find(|d| d.major == major && d.minor == minor)
    }
}

/// Process counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PidsSnapshot {
    /// Tasks in the cgroup now.
    pub current: u64,
    /// The tightest `pids.max` of the cgroup and its ancestors; `None` if unlimited.
    pub limit: Option<u64>,
}

/// One line of a pressure (PSI) file, `some` or `full`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PsiLine {
    /// Share of the last 10 s, in hundredths of a percent (`avg10=1.25` is 125).
    pub avg10: u32,
    /// Of the last 60 s, the same way.
    pub avg60: u32,
    /// Of the last 300 s, the same way.
    pub avg300: u32,
    /// Microseconds stalled since the cgroup (or the host) began.
    pub total: u64,
}

/// A pressure file: `some`, and `full` where the kernel writes one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Psi {
    /// Some tasks stalled.
    pub some: PsiLine,
    /// All non-idle tasks stalled.
    pub full: Option<PsiLine>,
}

/// The container's own pressure files (cgroup v2 only; v1 has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PressureSnapshot {
    /// `cpu.pressure`.
    pub cpu: Option<Psi>,
    /// `memory.pressure`.
    pub memory: Option<Psi>,
    /// `io.pressure`.
    pub io: Option<Psi>,
}

/// Everything the views may need about one container. A part that could not be read is
/// `None` and the views fall back to the host's value for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupSnapshot {
    /// Memory and swap.
    pub memory: Option<MemorySnapshot>,
    /// CPU quota, cpuset and usage.
    pub cpu: CpuSnapshot,
    /// Block I/O.
    pub io: Option<IoSnapshot>,
    /// Process counts.
    pub pids: Option<PidsSnapshot>,
    /// Pressure stall information.
    pub pressure: PressureSnapshot,
}

/// The directories of one container, one per controller the host has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub struct ContainerDirs {
    pub memory: Option<CgroupDir>,
    pub cpu: Option<CgroupDir>,
    pub cpuacct: Option<CgroupDir>,
    pub cpuset: Option<CgroupDir>,
    pub blkio: Option<CgroupDir>,
    pub pids: Option<CgroupDir>,
}

/// Which parts of a snapshot to read: each view needs only some.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub struct Parts {
    pub memory: bool,
    pub cpu_limits: bool,
    pub cpu_usage: bool,
    pub io: bool,
    pub pids: bool,
    pub psi_cpu: bool,
    pub psi_memory: bool,
    pub psi_io: bool,
}

impl Parts {
    /// Every part.
    pub const ALL: Parts = Parts {
        memory: true,
        cpu_limits: true,
        cpu_usage: true,
        io: true,
        pids: true,
        psi_cpu: true,
        psi_memory: true,
        psi_io: true,
    };
}
