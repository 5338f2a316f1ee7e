//! The tasks of a cgroup: its member processes (`cgroup.procs`), and its threads counted by
//! state over the cgroup and its descendants (v1 `tasks`, v2 `cgroup.threads`), for load
//! averages and `procs_running`.

use super::hierarchy::{CgroupDir, Version};
use crate::kernel::parse::parse_u64;
use crate::kernel::pid;
use crate::kernel::read::read_into;
use std::path::{Path, PathBuf};

/// How deep below the cgroup tasks are counted.
const MAX_DEPTH: usize = 8;

/// One count of a cgroup's threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCount {
    /// Runnable threads (`R`).
    pub running: u64,
    /// Threads in uninterruptible sleep (`D`).
    pub blocked: u64,
    /// All threads.
    pub total: u64,
    /// The newest thread's id as its own pid namespace numbers it.
    pub last_pid: u64,
}

/// The file listing a cgroup's threads in this version.
fn threads_file(version: Version) -> &'static str {
    match version {
        Version::V1 => "tasks",
        Version::V2 => "cgroup.threads",
    }
}

/// Counts the threads of `d` and its descendants by state; threads that exit meanwhile are
/// skipped. `proc_root` is where `/proc` is read.
pub fn count(d: &CgroupDir, proc_root: &Path) -> TaskCount {
    let list_name = threads_file(d.version);
    let mut count = TaskCount::default();
    let mut newest = 0u64;
    let mut stack = vec![(d.dir.clone(), 0usize)];
    let mut list = Vec::with_capacity(512);
    let mut stat = Vec::with_capacity(512);
    while let Some((dir, depth)) = stack.pop() {
        if read_into(&dir.join(list_name), &mut list).is_ok() {
            for tid in list.split(|&b| b == b'\n') {
                let Ok(tid) = parse_u64(tid) else { continue };
                let Ok(tid32) = u32::try_from(tid) else {
                    continue;
                };
                if read_into(&pid::dir(proc_root, tid32).join("stat"), &mut stat).is_err() {
                    continue;
                }
                count.total += 1;
                newest = newest.max(tid);
                match pid::parse_state(&stat) {
                    Ok(b'R') => count.running += 1,
                    Ok(b'D') => count.blocked += 1,
                    _ => {}
                }
            }
        }
        if depth < MAX_DEPTH {
            stack.extend(subdirs(&dir).into_iter().map(|p| (p, depth + 1)));
        }
    }
    if let Ok(newest) = u32::try_from(newest) {
        if newest > 0 {
            count.last_pid = pid::innermost_pid(&pid::dir(proc_root, newest))
                .map_or(u64::from(newest), u64::from);
        }
    }
    count
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The processes in the cgroup directory `dir` itself (`cgroup.procs`, the same on v1 and v2).
pub fn procs(dir: &Path) -> Vec<u32> {
    let mut buf = Vec::new();
    if read_into(&dir.join("cgroup.procs"), &mut buf).is_err() {
        return Vec::new();
    }
    buf.split(|&b| b == b'\n')
        .filter_map(|l| parse_u64(l).ok())
        .filter_map(|p| u32::try_from(p).ok())
        .collect()
}
