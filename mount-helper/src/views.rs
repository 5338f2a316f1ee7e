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

/// The one directory view: the host's CPU directory with only the reader's `cpuN` entries.
/// Bound before the files, which go on top of its `online`, `possible` and `present`.
pub const CPU_DIR: &str = "sys/devices/system/cpu";

/// Where [`CPU_DIR`] is in a vproc source: in its per-reader tree, the only place that passes
/// the host's entries through (a directory has one parent, so it cannot be in each
/// container's).
pub const CPU_DIR_SOURCE: &str = ".reader/sys/devices/system/cpu";

/// Each view's path under a container's root, and (but for [`CPU_DIR`], see [`source_rel`])
/// under the source tree. The directory first: attached in this order, unmounted in reverse.
pub const VIEWS: &[&str] = &[
    CPU_DIR,
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

/// Where view `rel` is under a source's root.
pub fn source_rel(rel: &str) -> &str {
    if rel == CPU_DIR {
        CPU_DIR_SOURCE
    } else {
        rel
    }
}

/// Whether view `rel` is a directory.
pub fn is_dir_view(rel: &str) -> bool {
    rel == CPU_DIR
}

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
    if crate::ns::is_fuse_mount(&by_pid) && mine.join("proc/meminfo").is_file() {
        mine
    } else {
        source.to_owned()
    }
}

/// Takes a detached copy of each view of the container of `pid` (its own files, see
/// [`container_dir`]). Fails if any is missing or its daemon is dead.
pub fn open_views_of(source: &Path, pid: u32) -> Result<Vec<OpenView>, Error> {
    open_views_in(source, &container_dir(source, pid))
}

/// Checks every view of `source` and takes a detached copy of each. Fails if any is missing or
/// its daemon is dead, before anything is attached.
pub fn open_views(source: &Path) -> Result<Vec<OpenView>, Error> {
    open_views_in(source, source)
}

/// Whether `dir` passes the host's CPU directory through (a `cpuN` in it): a source that
/// does not (lxcfs, an older vproc) gets no directory view rather than one that would
/// hide the CPUs.
fn passes_cpus_through(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.flatten().any(|e| {
            let n = e.file_name();
            let n = n.as_encoded_bytes();
            n.len() > 3 && n.starts_with(b"cpu") && n[3..].iter().all(u8::is_ascii_digit)
        })
    })
}

/// The views of `root` (a source's mountpoint), the files taken from `files` (the root, or
/// one container's directory in it).
fn open_views_in(root: &Path, files: &Path) -> Result<Vec<OpenView>, Error> {
    let mut out = Vec::with_capacity(VIEWS.len());
    for rel in VIEWS {
        let dir = is_dir_view(rel);
        let path = if dir {
            let path = root.join(source_rel(rel));
            if !passes_cpus_through(&path) {
                continue;
            }
            path
        } else {
            files.join(rel)
        };
        let source = if dir { root } else { files };
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
        if meta.is_dir() != dir {
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

/// Attaches each view onto `root/<rel>` where that file (or directory) exists (a missing
/// target is skipped, never created), in [`VIEWS`] order. Returns the targets attached; an
/// error if none was.
pub fn attach_views(views: &[OpenView], root: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut done = Vec::new();
    for v in views {
        let target = root.join(v.rel);
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_file() && !is_dir_view(v.rel) => {}
            Ok(m) if m.is_dir() && is_dir_view(v.rel) => {}
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
