//! The FUSE layer: the two trees vproc mounts ([`tree`]), the protocol ([`wire`]), the answer
//! to each request ([`ops`]), the threads that serve the channels ([`server`]), and the
//! processes around them: the in-process [`Service`], and `vproc serve`'s supervisor and worker
//! ([`supervisor`], [`worker`]), which restart and upgrade without a reader noticing.
//!
//! Everything that touches `/dev/fuse` or a mount of it is here; it renders through
//! [`crate::compose`] and never reads a cgroup itself. Its unsafe code is in `sys.rs`.
#![deny(unsafe_code)]

mod callers;
mod channel;
pub mod content;
pub mod control;
pub mod embedded;
mod handles;
pub mod mount;
pub mod ops;
pub mod passthrough;
pub mod registry;
pub mod report;
pub mod server;
mod service;
pub mod stats;
pub mod supervisor;
pub mod sys;
pub mod tree;
pub mod wire;
pub mod worker;

pub use mount::fuse_mount_at;
pub use service::{serve, Config, Connections, Service};

pub use stats::{Stats, Unresolved};

use std::path::Path;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mountpoint is unusable.
    #[error(transparent)]
    Mountpoint(#[from] mount::Error),
    /// A FUSE connection or mount could not be made.
    #[error("{what}")]
    Fuse {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{what}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn sys(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Sys { what, source }
    }

    pub(crate) fn fuse(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Fuse { what, source }
    }
}

/// Whether `dir` is a live FUSE mount whose `proc/meminfo` answers (a serving vproc, or an
/// lxcfs-style tree).
pub fn serves_views(dir: &Path) -> bool {
    fuse_mount_at(dir).is_some()
        && nix::sys::statfs::statfs(dir).is_ok()
        && dir.join("proc/meminfo").is_file()
}
