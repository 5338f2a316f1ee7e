//! `vproc run`: a small container runtime that shows vproc's views in action. It creates the
//! container's cgroup with docker-style limits, starts an init process (pid 1) in new mount,
//! pid, uts, ipc, net and cgroup namespaces, mounts a fresh `/proc`, a read-only `/sys`, the
//! container's own cgroups at `/sys/fs/cgroup` and vproc's views over `/proc/...`, and runs the
//! command under that init, which forwards signals and reaps zombies (docker's `--init`).
//!
//! Process roles: the parent (`spawn.rs`: record, cgroup, clone, the views, wait, signal
//! forwarding, teardown) and the container's init (`init.rs`: joins the cgroup, mounts,
//! `pivot_root`, runs the command), which talk over one socket (`handoff.rs`). The parent stays
//! single-threaded until the init is cloned. The views come from a directory some server
//! provides (the CLI starts one when none runs): this module never serves them itself.
//!
//! Containers are recorded under `/run/vproc/<name>` (`state.rs`), so `vproc ps` lists them,
//! `vproc exec NAME` finds them, and whatever a container killed outright left behind is
//! removed by the next `vproc run` or by `vproc gc`.
#![deny(unsafe_code)]

mod handoff;
mod init;
mod rootfs;
mod spawn;
pub mod state;
mod sys;
pub mod units;

pub use crate::cgroup::write::{Limits, MemorySwap};
pub use spawn::{exec, resolve_target, run, DEFAULT_CGROUP_PARENT};

use std::path::PathBuf;

/// Where a container's views come from: a views tree (its `by-pid` files are used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSource {
    /// The tree's directory.
    pub dir: PathBuf,
    /// The process whose mount namespace the directory is in, when it is not this one's (an
    /// embedded server mounts in a namespace of its own, which vanishes with it).
    pub mount_ns_of: Option<u32>,
}

/// Which views the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Views {
    /// None: the container reads the kernel's files (to compare).
    None,
    /// The container's own files of this views tree.
    Source(ViewSource),
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
    /// vproc's own cgroup (`.` for the own cgroup itself, `./a/b` below it).
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
    /// Run the command in a time namespace whose boot clock starts with the container.
    pub time_ns: bool,
    /// Send the command's `sysinfo(2)` calls to a listener (seccomp user notification), handed
    /// to `run`'s `on_sysinfo` with the init's pid.
    pub sysinfo: bool,
}

/// What `run` does with the container's sysinfo listener: serve it (given the init's pid).
pub type OnSysinfo<'a> = &'a dyn Fn(std::os::fd::OwnedFd, u32);

/// Why a container could not be run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Namespaces, mounts and cgroups need root.
    #[error("vproc run needs root (it creates namespaces, mounts and cgroups)")]
    NotRoot,
    /// No cgroup hierarchy at all.
    #[error("no cgroup hierarchy is mounted")]
    NoCgroups,
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
    #[error("{what} {path}")]
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
    /// The views could not be set up.
    #[error("{0}")]
    Serve(String),
    /// A container of that name runs already.
    #[error("a container named {name} is running (vproc run pid {pid}); choose another --name")]
    NameInUse {
        /// The name.
        name: String,
        /// Its `vproc run` process.
        pid: u32,
    },
    /// `vproc exec NAME` names no running container.
    #[error("no running container is named {0} (vproc ps lists them)")]
    NoSuchContainer(String),
    /// `vproc exec` on a container whose init did not finish setting it up in time.
    #[error(
        "container {0} is still being set up after 10 s; try again once `vproc ps` shows its pid"
    )]
    StillStarting(String),
    /// The container's cgroup could not be made.
    #[error(transparent)]
    Create(#[from] crate::cgroup::create::CreateError),
    /// A /proc file could not be read.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::Error),
    /// A system call failed.
    #[error("{what}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: nix::errno::Errno,
    },
    /// Reading the cgroup model, or writing a limit, failed.
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
