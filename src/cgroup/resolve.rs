//! Resolves a caller (a host pid or tid, as FUSE gives it) to its container: the cgroup of the
//! init (pid 1) of the caller's pid namespace, `/init.scope` stripped, so every process of a
//! container sees the whole container's limits however its own cgroups are nested. Callers in
//! the daemon's own pid namespace are judged by their own cgroup. [`Mode::PerCaller`] judges
//! every caller by its own cgroup, for Kubernetes pods that share one pid namespace.
//!
//! Finding the init never forks: the caller's `NSpid` says how deep its pid namespace is, and
//! the init is the nearest ancestor (by `PPid`) whose innermost pid is 1 at that depth. Inits
//! are cached by pid-namespace inode and trusted only while `/proc/<init>/stat` still shows the
//! same start time, so a dead init or a reused pid is never used.

use super::files;
use super::hierarchy::{Controller, Hierarchies};
use super::parse::{self, parse_u64, ParseError};
use super::proc_cgroup::ProcCgroups;
use super::snapshot::ContainerDirs;
use super::{Error, Result};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whose cgroup a caller is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The init of the caller's pid namespace (lxcfs semantics).
    #[default]
    Container,
    /// The caller's own cgroup (pods with `shareProcessNamespace`).
    PerCaller,
}

/// A caller's container, as the views need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Host pid whose cgroups were used (the init, or the caller itself).
    pub pid: u32,
    /// When the container's init started, in clock ticks since boot; `None` for callers in the
    /// daemon's pid namespace, who see the host's uptime.
    pub start_ticks: Option<u64>,
    /// The container's cgroup directories.
    pub dirs: Arc<ContainerDirs>,
}

#[derive(Debug, Clone)]
struct InitEntry {
    pid: u32,
    start_ticks: u64,
    dirs: Arc<ContainerDirs>,
    dirs_read_at: Instant,
}

/// How long an init's cgroup membership is trusted before `/proc/<init>/cgroup` is read again
/// (an init moved to another cgroup is seen within this time).
const DIRS_REFRESH: Duration = Duration::from_secs(1);

/// Resolves callers, caching the init of each pid namespace.
#[derive(Debug)]
pub struct Resolver {
    h: Hierarchies,
    mode: Mode,
    own_pidns: u64,
    inits: Mutex<HashMap<u64, InitEntry>>,
    dirs: Mutex<HashMap<Vec<u8>, Arc<ContainerDirs>>>,
}

/// Most pid namespaces remembered; beyond it the cache is cleared (entries are cheap to rebuild).
const MAX_CACHED: usize = 16384;

impl Resolver {
    /// A resolver over `h`, judging callers by `mode`. The daemon's own pid namespace is read
    /// from `<proc>/self/ns/pid`.
    pub fn new(h: Hierarchies, mode: Mode) -> Result<Self> {
        let own_pidns = pidns_inode(&h.proc_root().join("self"))?;
        Ok(Self {
            h,
            mode,
            own_pidns,
            inits: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// The hierarchies this resolver reads.
    pub fn hierarchies(&self) -> &Hierarchies {
        &self.h
    }

    /// The container of `pid`.
    pub fn resolve(&self, pid: u32) -> Result<Container> {
        let proc_pid = self.proc_dir(pid);
        let ns = pidns_inode(&proc_pid)?;
        if ns == self.own_pidns {
            let dirs = self.dirs_of(pid, false)?;
            return Ok(Container {
                pid,
                start_ticks: None,
                dirs,
            });
        }
        let init = self.init_of(pid, ns)?;
        match self.mode {
            Mode::Container => Ok(Container {
                pid: init.pid,
                start_ticks: Some(init.start_ticks),
                dirs: init.dirs,
            }),
            Mode::PerCaller => Ok(Container {
                pid,
                start_ticks: Some(init.start_ticks),
                dirs: self.dirs_of(pid, false)?,
            }),
        }
    }

    /// Forgets every cached init, so cgroup moves are picked up.
    pub fn clear_cache(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, InitEntry>> {
        // A panic elsewhere while holding the lock leaves a map that is still valid.
        self.inits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn proc_dir(&self, pid: u32) -> PathBuf {
        self.h.proc_root().join(pid.to_string())
    }

    fn init_of(&self, caller: u32, ns: u64) -> Result<InitEntry> {
        let cached = self.lock().get(&ns).cloned();
        if let Some(mut e) = cached {
            if start_ticks(&self.proc_dir(e.pid)).ok() == Some(e.start_ticks) {
                if e.dirs_read_at.elapsed() >= DIRS_REFRESH {
                    e.dirs = self.dirs_of(e.pid, true)?;
                    e.dirs_read_at = Instant::now();
                    self.lock().insert(ns, e.clone());
                }
                return Ok(e);
            }
            self.lock().remove(&ns);
        }
        let pid = self.find_init(caller)?;
        let start_ticks = start_ticks(&self.proc_dir(pid))?;
        let dirs = self.dirs_of(pid, true)?;
        // Re-check after reading the cgroups: the init must not have been replaced meanwhile.
        if start_ticks != self::start_ticks(&self.proc_dir(pid))? {
            return Err(Error::Read {
                path: self.proc_dir(pid),
                source: std::io::Error::from_raw_os_error(libc::ESRCH),
            });
        }
        let entry = InitEntry {
            pid,
            start_ticks,
            dirs,
            dirs_read_at: Instant::now(),
        };
        let mut map = self.lock();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(ns, entry.clone());
        Ok(entry)
    }

    /// Walks up the parent chain to the task whose innermost pid is 1 at the caller's depth.
    fn find_init(&self, caller: u32) -> Result<u32> {
        let status = ProcStatus::read(&self.proc_dir(caller))?;
        let depth = status.nspid_depth;
        if status.innermost_pid == 1 {
            return Ok(caller);
        }
        let mut cur = status.ppid;
        // Bounded: a pid namespace nests at most 32 levels, but a parent chain can be long.
        for _ in 0..4096 {
            if cur == 0 {
                break;
            }
            let s = ProcStatus::read(&self.proc_dir(cur))?;
            if s.nspid_depth < depth {
                break;
            }
            if s.nspid_depth == depth && s.innermost_pid == 1 {
                return Ok(cur);
            }
            cur = s.ppid;
        }
        // Reparented out of reach (the init is not an ancestor): judge by the caller's own cgroup.
        Ok(caller)
    }

    /// The directories of `pid`'s cgroups. The same membership text always maps to the same
    /// directories, so they are built once per distinct text and shared.
    fn dirs_of(&self, pid: u32, strip_init_scope: bool) -> Result<Arc<ContainerDirs>> {
        let path = self.proc_dir(pid).join("cgroup");
        with_scratch(|text| {
            files::read_into(&path, text)?;
            text.push(u8::from(strip_init_scope));
            // A hit (every read but a container's first) copies nothing.
            if let Some(d) = self.lock_dirs().get(text.as_slice()) {
                return Ok(d.clone());
            }
            let dirs = Arc::new(self.build_dirs(&text[..text.len() - 1], strip_init_scope));
            let mut map = self.lock_dirs();
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            map.insert(text.clone(), dirs.clone());
            Ok(dirs)
        })
    }

    fn lock_dirs(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Arc<ContainerDirs>>> {
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn build_dirs(&self, text: &[u8], strip_init_scope: bool) -> ContainerDirs {
        let mut cg = ProcCgroups::parse(&String::from_utf8_lossy(text));
        if strip_init_scope {
            cg.strip_init_scope();
        }
        let dir = |c: Controller| -> Option<super::CgroupDir> {
            let p = cg.path_for(&self.h, c)?;
            self.h.dir_for(c, p).ok()
        };
        ContainerDirs {
            memory: dir(Controller::Memory),
            cpu: dir(Controller::Cpu),
            cpuacct: dir(Controller::Cpuacct),
            cpuset: dir(Controller::Cpuset),
            blkio: dir(Controller::Blkio),
            pids: dir(Controller::Pids),
        }
    }
}

fn pidns_inode(proc_pid: &Path) -> Result<u64> {
    let path = proc_pid.join("ns/pid");
    std::fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|source| Error::Read { path, source })
}

/// The fields of `/proc/<pid>/status` resolution needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStatus {
    /// Parent pid in the host namespace (0 for the host's init).
    pub ppid: u32,
    /// How many pid namespaces the task is visible in (1 = host only).
    pub nspid_depth: usize,
    /// Its pid in its own, innermost pid namespace.
    pub innermost_pid: u32,
}

impl ProcStatus {
    fn read(proc_pid: &Path) -> Result<Self> {
        let path = proc_pid.join("status");
        let text = files::read(&path)?;
        files::parsed(&path, Self::parse(&text))
    }

    /// Parses `PPid:` and `NSpid:` lines.
    pub fn parse(text: &[u8]) -> std::result::Result<Self, ParseError> {
        let mut ppid = None;
        let mut nspid = None;
        for line in text.split(|&b| b == b'\n') {
            if let Some(v) = line.strip_prefix(b"PPid:") {
                ppid = Some(to_u32(parse_u64(v)?)?);
            } else if let Some(v) = line.strip_prefix(b"NSpid:") {
                let mut depth = 0;
                let mut last = 0;
                for w in parse::words(v) {
                    depth += 1;
                    last = to_u32(parse_u64(w)?)?;
                }
                if depth == 0 {
                    return Err(ParseError::Empty);
                }
                nspid = Some((depth, last));
            }
        }
        let ppid = ppid.ok_or(ParseError::MissingKey("PPid"))?;
        let (nspid_depth, innermost_pid) = nspid.ok_or(ParseError::MissingKey("NSpid"))?;
        Ok(Self {
            ppid,
            nspid_depth,
            innermost_pid,
        })
    }
}

fn to_u32(n: u64) -> std::result::Result<u32, ParseError> {
    u32::try_from(n).map_err(|_| ParseError::Overflow)
}

/// Start time of a process in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub fn start_ticks(proc_pid: &Path) -> Result<u64> {
    let path = proc_pid.join("stat");
    with_scratch(|buf| {
        files::read_into(&path, buf)?;
        files::parsed(&path, parse_start_ticks(buf))
    })
}

thread_local! {
    /// The read buffer of `/proc/<pid>/{cgroup,stat}` on this thread, reused by every read.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
}

/// Runs `f` with this thread's scratch buffer (a fresh one if it is already in use).
fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut Vec::with_capacity(4096)),
    })
}

/// The comm field may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_start_ticks(stat: &[u8]) -> std::result::Result<u64, ParseError> {
    let close = stat
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(ParseError::MissingKey("comm"))?;
    // After ")": field 3 (state) is the first word; starttime is field 22.
    parse::words(&stat[close + 1..])
        .nth(22 - 3)
        .ok_or(ParseError::MissingKey("starttime"))
        .and_then(parse_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = ProcStatus::parse(b"Name:\tsh\nPPid:\t10\nNSpid:\t1234\t7\t1\n").unwrap();
        assert_eq!(
            s,
            ProcStatus {
                ppid: 10,
                nspid_depth: 3,
                innermost_pid: 1
            }
        );
        assert!(ProcStatus::parse(b"PPid:\t1\n").is_err());
        assert!(ProcStatus::parse(b"PPid:\tx\nNSpid:\t1\n").is_err());
        assert!(ProcStatus::parse(b"PPid:\t1\nNSpid:\n").is_err());
    }

    #[test]
    fn start_time() {
        let stat = b"42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_start_ticks(stat), Ok(98765));
        assert!(parse_start_ticks(b"42 (x) S 1").is_err());
        assert!(parse_start_ticks(b"no paren").is_err());
    }
}
