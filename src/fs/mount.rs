//! Mounting: preparing the mountpoint (create it when missing, refuse one that a live vproc or
//! lxcfs already serves, clear a dead FUSE mount that a crashed instance left behind), and
//! creating each tree's FUSE connection with a mount attached nowhere yet, which is attached
//! where it belongs once a worker serves it (the containers tree sits inside the views tree, so
//! it can only be attached when the views tree answers).

use super::sys::{move_mount, FsContext};
use crate::kernel::mountinfo::unescape;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Why a mountpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another live FUSE filesystem is mounted there.
    #[error("{path} is already served by a live {fstype} mount; stop it first (or pick another mountpoint)")]
    InUse {
        /// The mountpoint.
        path: PathBuf,
        /// Its filesystem type, e.g. `fuse.vproc` or `fuse.lxcfs`.
        fstype: String,
    },
    /// A system call on the mountpoint failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The mountpoint.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Makes `path` ready to mount on and returns it as an absolute path.
pub fn prepare(path: &Path) -> Result<PathBuf, Error> {
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|source| Error::Io {
                what: "resolving",
                path: path.to_owned(),
                source,
            })?
            .join(path)
    };
    // Several dead mounts may be stacked; each pass removes the top one.
    for _ in 0..16 {
        let Some(fstype) = fuse_mount_at(&abs) else {
            break;
        };
        // statfs always reaches the daemon; stat could be answered from the attribute cache.
        match nix::sys::statfs::statfs(&abs) {
            Ok(_) => return Err(Error::InUse { path: abs, fstype }),
            Err(nix::errno::Errno::ENOTCONN) => {
                tracing::info!(mountpoint = %abs.display(), %fstype, "removing a dead FUSE mount left by a crashed instance");
                nix::mount::umount2(&abs, nix::mount::MntFlags::MNT_DETACH).map_err(|e| {
                    Error::Io {
                        what: "unmounting the dead mount at",
                        path: abs.clone(),
                        source: e.into(),
                    }
                })?;
            }
            Err(e) => {
                return Err(Error::Io {
                    what: "checking",
                    path: abs,
                    source: e.into(),
                })
            }
        }
    }
    if abs.exists() && !abs.is_dir() {
        return Err(Error::Io {
            what: "mounting on",
            path: abs,
            source: io::Error::from_raw_os_error(libc::ENOTDIR),
        });
    }
    std::fs::create_dir_all(&abs).map_err(|source| Error::Io {
        what: "creating",
        path: abs.clone(),
        source,
    })?;
    Ok(abs)
}

/// The fstype of the topmost FUSE mount at `path`, if any.
pub fn fuse_mount_at(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().rev().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let mount_point = unescape(pre.split(' ').nth(4)?);
        let fstype = post.split(' ').next()?;
        (mount_point == path && (fstype == "fuse" || fstype.starts_with("fuse.")))
            .then(|| fstype.to_owned())
    })
}

/// A FUSE connection and, until it is attached, its mount.
#[derive(Debug)]
pub struct NewTree {
    /// The connection (`/dev/fuse`).
    pub conn: File,
    /// The mount, attached to no tree yet.
    pub mount: OwnedFd,
}

/// Creates a FUSE filesystem (type `fuse.vproc`, source `source`): a connection and a
/// read-only mount of it attached nowhere (`fsopen`/`fsmount`, Linux 5.2+).
pub fn new_tree(source: &str) -> io::Result<NewTree> {
    let conn = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")?;
    let ctx = FsContext::open("fuse")?;
    ctx.set("source", source)?;
    ctx.set("subtype", "vproc")?;
    ctx.set("fd", &conn.as_raw_fd().to_string())?;
    ctx.set("rootmode", "40000")?;
    ctx.set("user_id", "0")?;
    ctx.set("group_id", "0")?;
    ctx.flag("allow_other")?;
    ctx.flag("default_permissions")?;
    let mount = ctx.mount()?;
    Ok(NewTree { conn, mount })
}

/// Attaches a tree made by [`new_tree`] at `target` (which must exist).
pub fn attach(tree: &OwnedFd, target: &Path) -> io::Result<()> {
    move_mount(tree, target)
}

/// Detaches, in the host's initial mount namespace, every mount of the FUSE `devices`
/// (`major:minor`); returns how many. A daemon in a container (a DaemonSet pod) that took its
/// connections over from another pod unmounts only its own copy: its namespace's mounts were
/// bound from the host's after the fact, and unmounting them does not propagate back. Must
/// run in a single-threaded process (joining a mount namespace requires it).
pub fn release_in_host_namespace(devices: &[String]) -> io::Result<usize> {
    let kthreadd = std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd");
    let host = if kthreadd {
        "/proc/2/ns/mnt"
    } else {
        "/proc/1/ns/mnt"
    };
    let ns = File::open(host)?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNS)?;
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut targets: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (dev, at) = (*f.get(2)?, *f.get(4)?);
            devices.iter().any(|d| d == dev).then(|| unescape(at))
        })
        .collect();
    // Deepest first: the containers tree sits inside the views tree.
    targets.sort_by_key(|t| std::cmp::Reverse(t.as_os_str().len()));
    let mut n = 0;
    for t in targets {
        if nix::mount::umount2(&t, nix::mount::MntFlags::MNT_DETACH).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// Detaches whatever is mounted at `path` (the containers tree inside it too).
pub fn detach(path: &Path) -> io::Result<()> {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).map_err(io::Error::from)
}
