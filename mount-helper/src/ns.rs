//! Working inside a running container's mount namespace: join it (`setns`, which needs a
//! single-threaded process), act, and join the caller's own namespace again.

use crate::views::VIEWS;
use crate::Error;
use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Runs `f` inside the mount namespace of `pid`, where `/` is the container's root, then
/// returns to this process's own mount namespace.
pub fn with_mount_ns_of<T>(pid: u32, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let threads = thread_count();
    if threads != 1 {
        return Err(Error::Threaded(threads));
    }
    let own = File::open("/proc/self/ns/mnt")
        .map_err(|e| Error::sys("opening", "/proc/self/ns/mnt", e))?;
    let theirs_path = PathBuf::from(format!("/proc/{pid}/ns/mnt"));
    let theirs = File::open(&theirs_path).map_err(|e| Error::sys("opening", &theirs_path, e))?;
    setns(&theirs, CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("joining the mount namespace of", &theirs_path, e))?;
    let result = f();
    setns(&own, CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("returning to", "/proc/self/ns/mnt", e))?;
    result
}

/// Whether a FUSE filesystem is mounted exactly at `path` (in this mount namespace).
pub fn is_fuse_mount(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    !fuse_mounts_at(&text, path).is_empty()
}

fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Whether one view is mounted in a container, and alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewStatus {
    /// A live FUSE mount of this type is there.
    Alive {
        /// The target, e.g. `/proc/meminfo`.
        target: PathBuf,
        /// Its filesystem type (`fuse.vproc`, `fuse.lxcfs`).
        fstype: String,
    },
    /// A FUSE mount is there but its daemon is gone (ENOTCONN).
    Stale {
        /// The target.
        target: PathBuf,
        /// Its filesystem type.
        fstype: String,
    },
    /// No view is mounted there (the container reads the kernel's file, or has no such file).
    NotMounted {
        /// The target.
        target: PathBuf,
    },
}

impl std::fmt::Display for ViewStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ViewStatus::Alive { target, fstype } => {
                write!(f, "{}\talive\t{fstype}", target.display())
            }
            ViewStatus::Stale { target, fstype } => write!(
                f,
                "{}\tstale\t{fstype} (Transport endpoint is not connected)",
                target.display()
            ),
            ViewStatus::NotMounted { target } => write!(f, "{}\tnot mounted", target.display()),
        }
    }
}

/// The FUSE mounts (filesystem types, bottom to top) at `target` in the mount table `mountinfo`
/// (paths relative to the process's root, as `/proc/<pid>/mountinfo` gives them).
fn fuse_mounts_at(mountinfo: &str, target: &Path) -> Vec<String> {
    let want = target.to_string_lossy().replace(' ', "\\040");
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            (pre.split(' ').nth(4) == Some(want.as_str()) && fstype.starts_with("fuse"))
                .then(|| fstype.to_owned())
        })
        .collect()
}

/// The devices (`major:minor`) of the FUSE mounts exactly at `target`.
fn fuse_devices_at(mountinfo: &str, target: &Path) -> Vec<String> {
    let want = target.to_string_lossy().replace(' ', "\\040");
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            (f.get(4) == Some(&want.as_str()) && post.starts_with("fuse"))
                .then(|| f.get(2).map(|d| (*d).to_owned()))?
        })
        .collect()
}

/// The mount table of `pid`'s mount namespace, read from the host's `/proc` (inside the
/// container's namespace, `/proc/self` may belong to a pid namespace this process is not in).
fn mountinfo_of(pid: u32) -> Result<String, Error> {
    let path = PathBuf::from(format!("/proc/{pid}/mountinfo"));
    std::fs::read_to_string(&path).map_err(|e| Error::sys("reading", &path, e))
}

/// Which views are mounted in the container of `pid`, and whether each is alive. Needs no
/// namespace switch: the targets are reached through `/proc/<pid>/root`.
pub fn status_in_pid(pid: u32) -> Result<Vec<ViewStatus>, Error> {
    let mountinfo = mountinfo_of(pid)?;
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    Ok(VIEWS
        .iter()
        .map(|rel| {
            let target = Path::new("/").join(rel);
            match fuse_mounts_at(&mountinfo, &target).pop() {
                None => ViewStatus::NotMounted { target },
                Some(fstype) => match nix::sys::statfs::statfs(&root.join(rel)) {
                    Err(nix::errno::Errno::ENOTCONN) => ViewStatus::Stale { target, fstype },
                    _ => ViewStatus::Alive { target, fstype },
                },
            }
        })
        .collect())
}

/// Unmounts every view (live or stale, stacked ones too) from the container of `pid`; returns
/// the targets. Only FUSE mounts at the view paths are touched; the files before the directory
/// they sit in.
pub fn unmount_in_pid(pid: u32) -> Result<Vec<PathBuf>, Error> {
    let mountinfo = mountinfo_of(pid)?;
    let counts: Vec<(PathBuf, usize)> = VIEWS
        .iter()
        .rev()
        .map(|rel| {
            let target = Path::new("/").join(rel);
            let n = fuse_mounts_at(&mountinfo, &target).len();
            (target, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    with_mount_ns_of(pid, || {
        let mut done = Vec::new();
        for (target, n) in &counts {
            for _ in 0..*n {
                nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH)
                    .map_err(|e| Error::sys("unmounting", target, e))?;
            }
            done.push(target.clone());
        }
        Ok(done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stacked_fuse_mounts() {
        let mi = "22 1 0:5 / /proc rw - proc proc rw\n\
                  30 22 0:40 /proc/meminfo /proc/meminfo ro - fuse.lxcfs lxcfs rw\n\
                  31 30 0:41 /proc/meminfo /proc/meminfo ro - fuse.vproc vproc ro\n\
                  32 22 0:41 / /proc/my\\040dir ro - fuse.vproc vproc ro\n";
        assert_eq!(
            fuse_mounts_at(mi, Path::new("/proc/meminfo")),
            ["fuse.lxcfs", "fuse.vproc"]
        );
        assert!(fuse_mounts_at(mi, Path::new("/proc")).is_empty());
        assert_eq!(
            fuse_mounts_at(mi, Path::new("/proc/my dir")),
            ["fuse.vproc"]
        );
    }
}

/// Why `pid` refused to bind views into a process's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It is this process's own mount namespace (the host's, for a shell on the host): the
    /// views would cover the host's own `/proc` files.
    OwnNamespace,
    /// Live views are mounted there already.
    AlreadyMounted,
}

/// Whether views may be bound into the mount namespace of `pid`: not the caller's own, and not
/// one that already has live views (binding again would stack them).
pub fn check_target(pid: u32) -> Result<Option<Refusal>, Error> {
    let ns = |p: &str| {
        std::fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .map_err(|e| Error::sys("reading", p, e))
    };
    if ns("/proc/self/ns/mnt")? == ns(&format!("/proc/{pid}/ns/mnt"))? {
        return Ok(Some(Refusal::OwnNamespace));
    }
    let alive = status_in_pid(pid)?
        .iter()
        .any(|s| matches!(s, ViewStatus::Alive { .. }));
    Ok(alive.then_some(Refusal::AlreadyMounted))
}

/// What `remount --all` found in one mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// A process of the container (its mount namespace).
    pub pid: u32,
    /// The targets whose dead views were (or, in a dry run, would be) replaced.
    pub targets: Vec<PathBuf>,
    /// Why the repair failed, if it did.
    pub error: Option<String>,
}

/// Which namespaces `remount --all` repairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemountOptions {
    /// Only report what would be done.
    pub dry_run: bool,
    /// Only namespaces of a process whose cgroup path (any hierarchy) contains this text.
    pub cgroup_filter: Option<String>,
}

fn cgroup_matches(pid: u32, filter: &Option<String>) -> bool {
    let Some(f) = filter else { return true };
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|t| {
        t.lines().any(|l| {
            l.splitn(3, ':')
                .nth(2)
                .is_some_and(|p| p.contains(f.as_str()))
        })
    })
}

/// Finds every mount namespace with a dead view (its daemon gone: ENOTCONN) and replaces the
/// dead mounts with live views from `source`: the container's own files (`by-pid`) where the
/// source has them. Namespaces whose views are alive, or that have none, are left alone;
/// nothing is created where no view was mounted. A namespace that fails is reported and the
/// others are still repaired.
pub fn remount_all(source: &Path, opts: &RemountOptions) -> Result<Vec<Repaired>, Error> {
    let own = std::fs::metadata("/proc/self/ns/mnt")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .ok();
    let own_mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::sys("reading", Path::new("/proc/self/mountinfo"), e))?;
    let serving = crate::devices::current(&own_mountinfo, source);
    // With the source's record, a view is dead when its connection is one the source served
    // before and serves no more; without one (an older daemon), when it answers ENOTCONN.
    let past: Option<Vec<String>> = crate::devices::recorded(source)
        .map(|r| r.into_iter().filter(|d| !serving.contains(d)).collect());
    let mut seen = std::collections::HashSet::new();
    let mut report = Vec::new();
    let entries = std::fs::read_dir("/proc").map_err(|e| Error::sys("listing", "/proc", e))?;
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let Ok(ns) = std::fs::metadata(format!("/proc/{pid}/ns/mnt")) else {
            continue;
        };
        let ino = std::os::unix::fs::MetadataExt::ino(&ns);
        if Some(ino) == own || !seen.insert(ino) {
            continue;
        }
        if !cgroup_matches(pid, &opts.cgroup_filter) {
            continue;
        }
        let Ok(mountinfo) = mountinfo_of(pid) else {
            continue;
        };
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let dead: Vec<(&'static str, usize)> = VIEWS
            .iter()
            .filter_map(|rel| {
                let target = Path::new("/").join(rel);
                let n = fuse_mounts_at(&mountinfo, &target).len();
                let stale = match &past {
                    Some(past) => fuse_devices_at(&mountinfo, &target)
                        .iter()
                        .any(|d| past.contains(d)),
                    None => {
                        n > 0
                            && matches!(
                                nix::sys::statfs::statfs(&root.join(rel)),
                                Err(nix::errno::Errno::ENOTCONN)
                            )
                    }
                };
                stale.then_some((*rel, n))
            })
            .collect();
        if dead.is_empty() {
            continue;
        }
        let targets: Vec<PathBuf> = dead
            .iter()
            .map(|(rel, _)| Path::new("/").join(rel))
            .collect();
        if opts.dry_run {
            report.push(Repaired {
                pid,
                targets,
                error: None,
            });
            continue;
        }
        let result = repair(source, pid, &dead);
        report.push(match result {
            Ok(done) => Repaired {
                pid,
                targets: done,
                error: None,
            },
            Err(e) => Repaired {
                pid,
                targets,
                error: Some(e.to_string()),
            },
        });
    }
    Ok(report)
}

fn repair(source: &Path, pid: u32, dead: &[(&'static str, usize)]) -> Result<Vec<PathBuf>, Error> {
    // Fresh copies for this namespace (a detached copy can be attached once): the
    // container's own files.
    let views = crate::open_views_of(source, pid)?;
    with_mount_ns_of(pid, || {
        // All dead mounts first, the files before the directory they sit in; then the new
        // ones, the directory first (a file's path walks through it).
        for (rel, n) in dead.iter().rev() {
            let target = Path::new("/").join(rel);
            for _ in 0..*n {
                nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH)
                    .map_err(|e| Error::sys("unmounting", &target, e))?;
            }
        }
        let mut done = Vec::new();
        for (rel, _) in dead {
            let target = Path::new("/").join(rel);
            if let Some(v) = views.iter().find(|v| v.rel == *rel) {
                crate::sys::move_mount_to(&v.tree, &target)
                    .map_err(|e| Error::sys("mounting the view onto", &target, e))?;
                done.push(target);
            }
        }
        Ok(done)
    })
}
