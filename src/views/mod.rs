//! One pure renderer per virtual file: host bytes plus a container's cgroup snapshot in, the
//! bytes the container reads out.
//!
//! No I/O, no clock, no cgroup-version branches, no panics: every input that could not be
//! read arrives as `None` and each renderer documents its fallback (usually the host's value
//! for that field). `docs/views.md` gives the source of every field.
#![forbid(unsafe_code)]

pub mod cpuinfo;
pub mod cpus;
pub mod diskstats;
mod fmt;
pub mod loadavg;
pub mod meminfo;
pub mod online;
pub mod pressure;
pub mod stat;
pub mod swaps;
pub mod sysinfo;
pub mod uptime;
pub mod vmstat;

pub use cpus::CpuView;

/// The one list of the files vproc serves. Everything else (the FUSE tree, the mount helper's
/// targets, `vproc show`'s names, log lines) is derived from it or checked against it by a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewId {
    /// `proc/meminfo`
    Meminfo,
    /// `proc/cpuinfo`
    Cpuinfo,
    /// `proc/stat`
    Stat,
    /// `proc/uptime`
    Uptime,
    /// `proc/loadavg`
    Loadavg,
    /// `proc/swaps`
    Swaps,
    /// `proc/diskstats`
    Diskstats,
    /// `sys/devices/system/cpu/online`
    CpuOnline,
    /// `sys/devices/system/cpu/possible` (glibc's `get_nprocs_conf`, `_SC_NPROCESSORS_CONF`)
    CpuPossible,
    /// `sys/devices/system/cpu/present`
    CpuPresent,
    /// `proc/vmstat`
    Vmstat,
    /// `proc/pressure/cpu`
    PressureCpu,
    /// `proc/pressure/memory`
    PressureMemory,
    /// `proc/pressure/io`
    PressureIo,
}

impl ViewId {
    /// Every view, in the order directories list them.
    /// Node ids derive from the position: new views go at the end.
    pub const ALL: [ViewId; 14] = [
        ViewId::Meminfo,
        ViewId::Cpuinfo,
        ViewId::Stat,
        ViewId::Uptime,
        ViewId::Loadavg,
        ViewId::Swaps,
        ViewId::Diskstats,
        ViewId::CpuOnline,
        ViewId::CpuPossible,
        ViewId::CpuPresent,
        ViewId::Vmstat,
        ViewId::PressureCpu,
        ViewId::PressureMemory,
        ViewId::PressureIo,
    ];

    /// Path under a views tree, and under a container's root.
    pub fn path(self) -> &'static str {
        match self {
            ViewId::Meminfo => "proc/meminfo",
            ViewId::Cpuinfo => "proc/cpuinfo",
            ViewId::Stat => "proc/stat",
            ViewId::Uptime => "proc/uptime",
            ViewId::Loadavg => "proc/loadavg",
            ViewId::Swaps => "proc/swaps",
            ViewId::Diskstats => "proc/diskstats",
            ViewId::CpuOnline => "sys/devices/system/cpu/online",
            ViewId::CpuPossible => "sys/devices/system/cpu/possible",
            ViewId::CpuPresent => "sys/devices/system/cpu/present",
            ViewId::Vmstat => "proc/vmstat",
            ViewId::PressureCpu => "proc/pressure/cpu",
            ViewId::PressureMemory => "proc/pressure/memory",
            ViewId::PressureIo => "proc/pressure/io",
        }
    }

    /// The file name (last path component).
    pub fn name(self) -> &'static str {
        self.path().rsplit('/').next().unwrap_or_default()
    }

    /// The directory part of the path (`proc`, `sys/devices/system/cpu`).
    pub fn dir(self) -> &'static str {
        self.path().rsplit_once('/').map_or("", |(d, _)| d)
    }

    /// Its position in [`ViewId::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Finds a view by file name (`meminfo`, `online`) or path (`proc/meminfo`).
    pub fn from_name(s: &str) -> Option<ViewId> {
        let s = s.trim_start_matches('/');
        Self::ALL
            .into_iter()
            .find(|v| v.path() == s || v.name() == s)
    }

    /// The names of every view, for messages (`meminfo, cpuinfo, ...`).
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
        names.join(", ")
    }
}

/// Clock facts about the caller's container, read by the caller of the renderers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Hundredths of a second since the host booted (`CLOCK_BOOTTIME`).
    pub host_uptime_cs: u64,
    /// When the container's init started, in hundredths of a second since boot; `None` for
    /// callers in the host's pid namespace.
    pub container_start_cs: Option<u64>,
    /// Ticks per second of `/proc/stat` counters (USER_HZ, 100 on Linux).
    pub user_hz: u64,
}

impl Clock {
    /// Hundredths of a second the container has existed: host uptime minus its init's start,
    /// or the host uptime for host callers. Never negative.
    pub fn container_uptime_cs(&self) -> u64 {
        match self.container_start_cs {
            Some(start) => self.host_uptime_cs.saturating_sub(start),
            None => self.host_uptime_cs,
        }
    }

    /// Converts a start time in clock ticks since boot to hundredths of a second.
    pub fn ticks_to_cs(ticks: u64, clk_tck: u64) -> u64 {
        if clk_tck == 0 {
            return 0;
        }
        (u128::from(ticks) * 100 / u128::from(clk_tck)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::ViewId;

    #[test]
    fn view_names_and_paths() {
        for (i, v) in ViewId::ALL.into_iter().enumerate() {
            assert_eq!(v.index(), i);
            assert_eq!(ViewId::from_name(v.name()), Some(v));
            assert_eq!(ViewId::from_name(v.path()), Some(v));
            assert_eq!(format!("{}/{}", v.dir(), v.name()), v.path());
        }
        assert_eq!(ViewId::from_name("nope"), None);
    }
}
