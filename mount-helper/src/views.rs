//! The views and the two halves of putting them in: detached copies from the source, and the
//! move onto the targets.

use crate::sys;
use crate::Error;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where `vproc serve` mounts by default.
pub const DEFAULT_SOURCE: &str = "/var/lib/vproc";

/// The directory of a vproc source that holds each container's own files:
/// `SOURCE/by-pid/<pid>/proc/meminfo` is the meminfo of the container `<pid>` belongs to.
pub const BY_PID: &str = "by-pid";

/// Each view's path, the same under the source tree and under a container's root.
pub const VIEWS: &[&str] = &[
    "proc/meminfo",
    "proc/cpuinfo",
    "proc/stat",
    "proc/uptime",
    "proc/loadavg",
    "proc/swaps",
    "proc/diskstats",
    "sys/devices/system/cpu/online",
    "sys/devices/system/cpu/possible",
    "sys/devices/system/cpu/present",
    "proc/vmstat",
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
];

/// Views an engine refuses to bind: runc allows a bind mount inside `/proc` only onto its short
/// list of files (cpuinfo, diskstats, meminfo, stat, swaps, uptime, loadavg, ...), and fails the
/// container otherwise. They are put in by vproc-mount itself only (the OCI hook, `pid`,
/// `vproc run`), never printed as engine mounts.
const ENGINES_REFUSE: &[&str] = &[
    "proc/vmstat",
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
];

/// The views an engine's own bind mounts can place (docker `-v`, OCI `mounts`, Kubernetes
/// `hostPath` volumes).
pub fn engine_bindable() -> impl Iterator<Item = &'static str> {
    VIEWS
        .iter()
        .copied()
        .filter(|rel| !ENGINES_REFUSE.contains(rel))
}

/// A detached copy of one view's mount, ready to be attached anywhere.
#[derive(Debug)]
pub struct OpenView {
    /// The view's relative path (`proc/meminfo`).
    pub rel: &'static str,
    /// The detached mount.
    pub tree: OwnedFd,
}

/// Where the files of the container of `pid` are under `source`: `source/by-pid/<pid>` when
/// the source has per-container files (vproc), else `source` itself (lxcfs, or an older vproc:
/// their files answer each reader).
pub fn container_dir(source: &Path, pid: u32) -> PathBuf {
    let by_pid = source.join(BY_PID);
    let mine = by_pid.join(pid.to_string());
    // The containers tree is a mount of its own at by-pid; without it the directory is empty.
    if crate::ns::is_fuse_mount(&by_pid) && mine.join(VIEWS[0]).is_file() {
        mine
    } else {
        source.to_owned()
    }
}

/// Takes a detached copy of each view of the container of `pid` (its own files, see
/// [`container_dir`]). Fails if any is missing or its daemon is dead.
pub fn open_views_of(source: &Path, pid: u32) -> Result<Vec<OpenView>, Error> {
    open_views(&container_dir(source, pid))
}

/// Checks every view of `source` and takes a detached copy of each. Fails if any is missing or
/// its daemon is dead, before anything is attached.
pub fn open_views(source: &Path) -> Result<Vec<OpenView>, Error> {
    let mut out = Vec::with_capacity(VIEWS.len());
    for rel in VIEWS {
        let path = source.join(rel);
        // statfs reaches the daemon (stat may be answered from the kernel's cache).
        match nix::sys::statfs::statfs(&path) {
            Ok(_) => {}
            Err(nix::errno::Errno::ENOTCONN) => return Err(Error::DeadSource { path }),
            Err(nix::errno::Errno::ENOENT) => {
                return Err(Error::MissingSource {
                    path,
                    source_dir: source.to_owned(),
                })
            }
            Err(e) => return Err(Error::sys("checking", path, e)),
        }
        let meta = std::fs::metadata(&path).map_err(|e| Error::sys("checking", &path, e))?;
        if !meta.is_file() {
            return Err(Error::MissingSource {
                path,
                source_dir: source.to_owned(),
            });
        }
        let tree = sys::open_tree_clone(&path)
            .map_err(|e| Error::sys("copying the mount of", &path, e))?;
        out.push(OpenView { rel, tree });
    }
    Ok(out)
}

/// Attaches each view onto `root/<rel>` where that file exists (a missing target is skipped,
/// never created). Returns the targets attached; an error if none was.
pub fn attach_views(views: &[OpenView], root: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut done = Vec::new();
    for v in views {
        let target = root.join(v.rel);
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_file() => {}
            _ => continue,
        }
        sys::move_mount_to(&v.tree, &target)
            .map_err(|e| Error::sys("mounting the view onto", &target, e))?;
        done.push(target);
    }
    if done.is_empty() {
        return Err(Error::NoTargets(root.to_owned()));
    }
    Ok(done)
}
