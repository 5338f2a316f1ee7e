//! `vproc run`: a small container runtime that shows vproc's views in action. It creates the
//! container's cgroup with docker-style limits, starts an init process (pid 1) in new mount,
//! pid, uts, ipc, net and cgroup namespaces, mounts a fresh `/proc`, a read-only `/sys`, the
//! container's own cgroups at `/sys/fs/cgroup` and vproc's views over `/proc/...`, and runs the
//! command under that init, which forwards signals and reaps zombies (docker's `--init`).
//!
//! Process roles: the parent (`spawn.rs`: cgroup, views, clone, wait, signal forwarding, teardown)
//! and the container's init (`init.rs`: joins the cgroup, mounts, `pivot_root`, runs the
//! command). The parent stays single-threaded until the init is cloned; an embedded view server
//! runs in a separate process.

mod init;
pub mod limits;
mod rootfs;
mod spawn;
mod sys;
pub mod units;

pub use limits::{Limits, MemorySwap};
pub use spawn::{exec, run};

use std::path::PathBuf;

/// Which views the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Views {
    /// None: the container reads the kernel's files (to compare).
    None,
    /// The views served at this directory by a running `vproc serve`.
    Dir(PathBuf),
    /// A running `vproc serve` at the default mountpoint if there is one, else views served by
    /// `vproc run` itself for the container's lifetime.
    Auto,
}

/// A bind mount from the host into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Host path.
    pub host: PathBuf,
    /// Path in the container.
    pub container: PathBuf,
    /// Read-only.
    pub read_only: bool,
}

/// Everything `vproc run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Resource limits.
    pub limits: Limits,
    /// Where the container's cgroup goes: absolute from each hierarchy's root, or relative to
    /// vproc's own cgroup (`.` for the own cgroup itself).
    pub cgroup_parent: String,
    /// The container's name (its cgroup's name); default `vproc-<pid>`.
    pub name: String,
    /// Hostname in the container; default the name.
    pub hostname: Option<String>,
    /// Share the host's network namespace instead of a new one with only loopback.
    pub net_host: bool,
    /// Root filesystem; `None` uses the host's `/` (through the new mount namespace).
    pub rootfs: Option<PathBuf>,
    /// A throwaway writable layer over `rootfs` (overlayfs).
    pub overlay: bool,
    /// Bind mounts.
    pub volumes: Vec<Volume>,
    /// Extra environment (`K=V`).
    pub env: Vec<String>,
    /// Working directory in the container.
    pub workdir: Option<PathBuf>,
    /// User and group to run the command as.
    pub user: Option<(u32, Option<u32>)>,
    /// Views.
    pub views: Views,
    /// Write the container init's host pid here.
    pub pid_file: Option<PathBuf>,
}

/// Why a container could not be run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Namespaces, mounts and cgroups need root.
    #[error("vproc run needs root (it creates namespaces, mounts and cgroups)")]
    NotRoot,
    /// No cgroup hierarchy at all.
    #[error("no cgroup hierarchy is mounted")]
    NoCgroups,
    /// A requested limit needs a controller the host does not have.
    #[error("this host has no cgroup support for the requested {0} limit")]
    NoController(&'static str),
    /// `--rootfs` does not exist.
    #[error("rootfs {0} does not exist or is not a directory")]
    RootfsMissing(PathBuf),
    /// No command.
    #[error("no command given (vproc run [OPTIONS] -- COMMAND [ARGS...])")]
    NoCommand,
    /// Namespaces are cloned from a single-threaded process only (a library caller with
    /// threads must run `vproc run` as a command instead).
    #[error("vproc run must be started from a single-threaded process")]
    Threaded,
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The views could not be prepared.
    #[error(transparent)]
    Views(#[from] vproc_mount::Error),
    /// The embedded view server did not come up.
    #[error("the view server did not start: {0}")]
    Serve(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: nix::errno::Errno,
    },
    /// Reading the cgroup model failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::Error),
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> Error {
        move |source| Error::Sys { what, source }
    }
}
