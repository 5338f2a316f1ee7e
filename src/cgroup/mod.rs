//! The cgroup model: which hierarchies the host has, which container a process belongs to, and
//! that container's limits and usage, read from cgroup v1 or v2 files into version-neutral
//! snapshots.
//!
//! Owns every read of `/sys/fs/cgroup` and `/proc/<pid>/{cgroup,status,stat}`. Meaning is
//! normalized here (v1 `memsw` counts memory plus swap, v2 `swap` counts swap only; v1 per-CPU
//! nanoseconds and v2 microseconds) so no view ever asks which version it serves. Both roots (the
//! `/proc` directory and the directory that mount points are relative to) are injectable, so
//! tests run on fixture trees.
#![forbid(unsafe_code)]

pub mod cpu_set;
mod files;
mod hierarchy;
pub mod mountinfo;
pub mod parse;
mod proc_cgroup;
pub mod resolve;
pub mod snapshot;
mod v1;
mod v2;

pub use cpu_set::CpuSet;
pub use hierarchy::{CgroupDir, Controller, Hierarchies, Version};
pub use proc_cgroup::ProcCgroups;
pub use snapshot::{
    read_snapshot, CgroupSnapshot, ContainerDirs, CpuQuota, CpuSnapshot, CpuUsage, IoDevice,
    IoSnapshot, MemorySnapshot, MemoryStat, Parts, PerCpuUsage, PidsSnapshot, SwapSnapshot,
};

use std::io;
use std::path::PathBuf;

/// What went wrong reading cgroup or process state; each variant names the file or pid.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read (missing, cgroup deleted, process exited).
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file was read but its content is not what the kernel writes.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: parse::ParseError,
    },
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
        matches!(self, Error::Read { source, .. }
            if matches!(source.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::ENODEV)))
    }
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, Error>;
