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
mod content;
pub mod embedded;
mod handles;
pub mod mount;
pub mod ops;
pub mod registry;
pub mod server;
mod service;
pub mod supervisor;
pub mod sys;
pub mod tree;
pub mod wire;
pub mod worker;

pub use mount::fuse_mount_at;
pub use service::{serve, Config, Connections, Service};

use std::path::Path;
use std::sync::atomic::AtomicU64;

/// Counters a test or an operator can read (`vproc status`, `/metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Renderings with host values because the container could not be found (a per-reader
    /// open by an unresolved reader, or a container whose init is gone).
    pub host_fallbacks: AtomicU64,
    /// Opens of views that reached vproc (per-container files opened without a round trip are
    /// not counted).
    pub opens: AtomicU64,
    /// Per-container files that a process of another container opened.
    pub foreign_opens: AtomicU64,
    /// Readers that could not be resolved, by [`Unresolved`] reason.
    pub unresolved: [AtomicU64; Unresolved::ALL.len()],
    /// When an unresolved reader was last logged (seconds on the monotonic clock).
    last_unresolved_warn: AtomicU64,
}

/// Why a reader could not be resolved to its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    /// It exited before vproc looked (its `/proc/<pid>` was gone).
    Exited,
    /// vproc cannot see it: the kernel gave pid 0 (a pid namespace vproc is not an ancestor of).
    Invisible,
    /// Its `/proc` or cgroup files could not be read or parsed.
    Unreadable,
}

impl Unresolved {
    /// Every reason, in counter order.
    pub const ALL: [Unresolved; 3] = [
        Unresolved::Exited,
        Unresolved::Invisible,
        Unresolved::Unreadable,
    ];

    /// Its name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Unresolved::Exited => "exited",
            Unresolved::Invisible => "invisible",
            Unresolved::Unreadable => "unreadable",
        }
    }

    /// The reason for a resolution error of reader `pid`.
    pub fn of(pid: u32, e: &crate::cgroup::Error) -> Unresolved {
        if pid == 0 {
            Unresolved::Invisible
        } else if e.is_gone() {
            Unresolved::Exited
        } else {
            Unresolved::Unreadable
        }
    }
}

impl Stats {
    /// Counts an unresolved reader, and says so at warn level at most once per 10 s (with how
    /// many there were meanwhile): readers that exit as they read are normal, a stream of
    /// invisible or unreadable ones is a deployment problem.
    pub fn unresolved(&self, reason: Unresolved, pid: u32, error: &dyn std::error::Error) {
        use std::sync::atomic::Ordering::Relaxed;
        let i = Unresolved::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.unresolved[i].fetch_add(1, Relaxed);
        let now = monotonic_secs();
        let last = self.last_unresolved_warn.load(Relaxed);
        if reason != Unresolved::Exited
            && now >= last + 10
            && self
                .last_unresolved_warn
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
        {
            let counts: Vec<String> = Unresolved::ALL
                .iter()
                .zip(&self.unresolved)
                .map(|(r, c)| format!("{}={}", r.name(), c.load(Relaxed)))
                .collect();
            tracing::warn!(
                pid,
                reason = reason.name(),
                error = %crate::kernel::error_chain(error),
                totals = %counts.join(" "),
                "a reader could not be resolved to its container; it gets host values"
            );
        } else {
            tracing::debug!(pid, reason = reason.name(), error = %error, "reader not resolved");
        }
    }
}

fn monotonic_secs() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| u64::try_from(t.tv_sec()).unwrap_or(0))
}

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
