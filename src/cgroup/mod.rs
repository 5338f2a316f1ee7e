//! The cgroup model: which hierarchies the host has, which container a process belongs to, and
//! that container's limits and usage, read from and written to cgroup v1 or v2 files through
//! version-neutral types.
//!
//! Owns every read and write of `/sys/fs/cgroup` and of `/proc/<pid>/cgroup` (membership), and
//! the task counts of a cgroup. Meaning is normalized here (v1 `memsw` counts memory plus swap,
//! v2 `swap` counts swap only; v1 per-CPU nanoseconds and v2 microseconds) so no view ever asks
//! which version it serves. One file per controller per version (`v1/memory.rs`,
//! `v2/memory.rs`) holds both the reads and the writes of that controller. Both roots (the
//! `/proc` directory and the directory that mount points are relative to) are injectable, so
//! tests run on fixture trees. Builds on [`crate::kernel`] only.
#![forbid(unsafe_code)]

pub mod create;
mod hierarchy;
mod membership;
mod read;
pub mod resolve;
pub mod snapshot;
pub mod tasks;
mod v1;
mod v2;
mod walk;
pub mod write;

pub use crate::kernel::CpuSet;

/// The pure parsers of cgroup files (bytes in, typed value out), for fuzzing and tests.
pub mod text {
    pub use super::v1::blkio::parse_into as parse_blkio;
    pub use super::v1::cpuacct::parse_usage_all;
    pub use super::v2::cpu::parse_cpu_max;
    pub use super::v2::io::parse_io_stat;
    pub use super::v2::pressure::parse_psi;
}
pub use hierarchy::{CgroupDir, Controller, Hierarchies, Version};
pub use membership::ProcCgroups;
pub use read::read_snapshot;
pub use snapshot::{
    CgroupSnapshot, ContainerDirs, CpuQuota, CpuSnapshot, CpuUsage, IoDevice, IoSnapshot,
    MemoryEvents, MemorySnapshot, MemoryStat, Parts, PerCpuUsage, PidsSnapshot, PressureSnapshot,
    Psi, PsiLine, SwapSnapshot,
};

use std::path::PathBuf;

/// What went wrong reading cgroup or process state; each variant names the file or pid.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cgroup or /proc file could not be read or parsed.
    #[error(transparent)]
    File(#[from] crate::kernel::Error),
    /// The host has no hierarchy carrying this controller.
    #[error("no cgroup hierarchy carries the {0:?} controller")]
    NoController(Controller),
    /// The process has no entry for that hierarchy in `/proc/<pid>/cgroup`.
    #[error("pid {pid} has no cgroup for the {controller:?} controller")]
    NoCgroup {
        /// The process.
        pid: u32,
        /// The controller.
        controller: Controller,
    },
    /// A requested limit needs a controller (or a kernel feature) the host does not have.
    #[error("this host has no cgroup support for the requested {0} limit")]
    Unsupported(&'static str),
    /// A cgroup path lies outside the part of the hierarchy that is mounted.
    #[error("cgroup {path} is not below the mounted root of its hierarchy")]
    NotMounted {
        /// The cgroup path from `/proc/<pid>/cgroup`.
        path: PathBuf,
    },
}

impl Error {
    /// Whether the error means the thing read no longer exists (a process exited, a cgroup was
    /// removed): expected in a daemon, not worth a warning.
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::File(e) if e.is_gone())
    }

    /// Whether a file that was read does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, Error::File(e) if e.is_missing())
    }
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, Error>;
