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
pub mod stat;
pub mod swaps;
pub mod uptime;

pub use cpus::CpuView;

/// Clock facts about the caller's container, read by the caller of the renderers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Host uptime and idle.
    pub host: crate::host::uptime::Uptime,
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
            Some(start) => self.host.uptime_cs.saturating_sub(start),
            None => self.host.uptime_cs,
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
