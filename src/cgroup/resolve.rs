//! Resolves a caller (a host pid or tid, as FUSE gives it) to its container: the cgroup of the
//! init (pid 1) of the caller's pid namespace, `/init.scope` stripped, so every process of a
//! container sees the whole container's limits however its own cgroups are nested and however it
//! got there (`exec`, `nsenter`, `setns`: a process that is not a descendant of the init is
//! resolved the same way). Callers in the daemon's own pid namespace are judged by their own
//! cgroup. [`Mode::PerCaller`] judges every caller by its own cgroup, for Kubernetes pods that
//! share one pid namespace.
//!
//! The init of a pid namespace is found from the namespace itself, never from the caller's
//! ancestry, so no reader can make another reader's container resolve wrongly: the kernel
//! translates "pid 1 of this namespace" (`NS_GET_TGID_FROM_PIDNS`, Linux 6.8+); older kernels
//! walk the caller's parents (`NSpid` depths) and, for a caller reparented out of reach, scan
//! `/proc` for the namespace's pid 1. Inits are cached by pid-namespace inode and trusted only
//! while `/proc/<init>/stat` still shows the same start time, so a dead init or a reused pid is
//! never used. Finding the init never forks.

use super::hierarchy::Hierarchies;
use super::membership::ProcCgroups;
use super::snapshot::ContainerDirs;
use super::Result;
use crate::kernel::pid::{self, Status};
use crate::kernel::read::{read_into, with_scratch};
use std::collections::HashMap;
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

/// What identifies a container across reads: the same id always means the same limits and the
/// same clock, and two containers never share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContainerId {
    /// A container judged by its pid namespace's init, whose cgroup is followed if it moves.
    Init {
        /// The init's host pid.
        pid: u32,
        /// Its start time in clock ticks since boot (with the pid, unique over time).
        start_ticks: u64,
    },
    /// Judged by one cgroup membership (callers in the host's pid namespace, and every caller
    /// in per-caller mode), with the start of its pid namespace's init (`None` on the host).
    Cgroup {
        /// The `/proc/<pid>/cgroup` text the directories come from.
        membership: Arc<[u8]>,
        /// The clock start of the caller's pid namespace, if it is not the host's.
        start_ticks: Option<u64>,
    },
}

impl std::fmt::Display for ContainerId {
    /// `init 1234` or `cgroup /docker/abc` (the memory or unified path of the membership).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerId::Init { pid, .. } => write!(f, "init {pid}"),
            ContainerId::Cgroup { membership, .. } => {
                let text = String::from_utf8_lossy(membership);
                let path = text
                    .lines()
                    .find(|l| {
                        l.split(':')
                            .nth(1)
                            .is_some_and(|c| c.split(',').any(|c| c == "memory"))
                    })
                    .or_else(|| text.lines().find(|l| l.starts_with("0::")))
                    .and_then(|l| l.splitn(3, ':').nth(2))
                    .unwrap_or("?");
                write!(f, "cgroup {path}")
            }
        }
    }
}

/// A caller's container, as the views need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Which container this is.
    pub id: ContainerId,
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

type DirsMap = HashMap<Vec<u8>, (Arc<[u8]>, Arc<ContainerDirs>)>;

/// Whether one of a container's cgroups (below a hierarchy's top) no longer exists.
fn any_removed(dirs: &ContainerDirs) -> bool {
    [&dirs.memory, &dirs.cpu, &dirs.cpuacct, &dirs.pids]
        .into_iter()
        .flatten()
        .any(|d| d.dir != d.top && !d.dir.exists())
}

/// Most pid namespaces remembered; beyond it the cache is cleared (entries are cheap to rebuild).
const MAX_CACHED: usize = 16384;

/// Resolves callers, caching the init of each pid namespace.
#[derive(Debug)]
pub struct Resolver {
    h: Hierarchies,
    mode: Mode,
    own_pidns: u64,
    /// Inits by pid-namespace inode.
    inits: Mutex<HashMap<u64, InitEntry>>,
    /// Directories by membership text; index 1 holds those with `/init.scope` stripped.
    dirs: [Mutex<DirsMap>; 2],
}

impl Resolver {
    /// A resolver over `h`, judging callers by `mode`. The daemon's own pid namespace is read
    /// from `<proc>/self/ns/pid`.
    pub fn new(h: Hierarchies, mode: Mode) -> Result<Self> {
        let own_pidns = pid::pidns_inode(&h.proc_root().join("self"))?;
        Ok(Self {
            h,
            mode,
            own_pidns,
            inits: Mutex::new(HashMap::new()),
            dirs: Default::default(),
        })
    }

    /// The hierarchies this resolver reads.
    pub fn hierarchies(&self) -> &Hierarchies {
        &self.h
    }

    /// Whose cgroup callers are judged by.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The container of `pid`.
    pub fn resolve(&self, pid: u32) -> Result<Container> {
        let proc_pid = self.proc_dir(pid);
        let ns = pid::pidns_inode(&proc_pid)?;
        if ns == self.own_pidns {
            let (membership, dirs) = self.dirs_of(pid, false)?;
            return Ok(Container {
                id: ContainerId::Cgroup {
                    membership,
                    start_ticks: None,
                },
                start_ticks: None,
                dirs,
            });
        }
        let init = self.init_of(pid, ns)?;
        match self.mode {
            Mode::Container => Ok(Container {
                id: ContainerId::Init {
                    pid: init.pid,
                    start_ticks: init.start_ticks,
                },
                start_ticks: Some(init.start_ticks),
                dirs: init.dirs,
            }),
            Mode::PerCaller => {
                let (membership, dirs) = self.dirs_of(pid, false)?;
                Ok(Container {
                    id: ContainerId::Cgroup {
                        membership,
                        start_ticks: Some(init.start_ticks),
                    },
                    start_ticks: Some(init.start_ticks),
                    dirs,
                })
            }
        }
    }

    /// The current state of a container known by its id: its directories (an init's followed as
    /// it moves) and clock start. `Err` when its init is gone.
    pub fn container(&self, id: &ContainerId) -> Result<Container> {
        match id {
            ContainerId::Init { pid, start_ticks } => {
                let dirs = self.dirs_of_init(*pid, *start_ticks)?;
                Ok(Container {
                    id: id.clone(),
                    start_ticks: Some(*start_ticks),
                    dirs,
                })
            }
            ContainerId::Cgroup {
                membership,
                start_ticks,
            } => Ok(Container {
                id: id.clone(),
                start_ticks: *start_ticks,
                dirs: self.dirs_of_text(membership, false).1,
            }),
        }
    }

    /// Whether a container can have no reader any more: its init exited (a pid namespace dies
    /// with its init), or its cgroup was removed (only an empty cgroup can be).
    pub fn is_gone(&self, id: &ContainerId) -> bool {
        match id {
            ContainerId::Init { pid, start_ticks } => {
                pid::start_ticks(&self.proc_dir(*pid)).ok() != Some(*start_ticks)
            }
            ContainerId::Cgroup { membership, .. } => {
                any_removed(&self.dirs_of_text(membership, false).1)
            }
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
        pid::dir(self.h.proc_root(), pid)
    }

    /// The directories of a known init, re-read after [`DIRS_REFRESH`].
    fn dirs_of_init(&self, init: u32, start_ticks: u64) -> Result<Arc<ContainerDirs>> {
        let cached = self
            .lock()
            .values()
            .find(|e| e.pid == init && e.start_ticks == start_ticks)
            .cloned();
        if let Some(e) = cached.filter(|e| e.dirs_read_at.elapsed() < DIRS_REFRESH) {
            return Ok(e.dirs);
        }
        let (_, dirs) = self.dirs_of(init, true)?;
        if pid::start_ticks(&self.proc_dir(init))? != start_ticks {
            return Err(gone(self.proc_dir(init)));
        }
        Ok(dirs)
    }

    fn init_of(&self, caller: u32, ns: u64) -> Result<InitEntry> {
        let cached = self.lock().get(&ns).cloned();
        if let Some(mut e) = cached {
            if pid::start_ticks(&self.proc_dir(e.pid)).ok() == Some(e.start_ticks) {
                if e.dirs_read_at.elapsed() >= DIRS_REFRESH {
                    e.dirs = self.dirs_of(e.pid, true)?.1;
                    e.dirs_read_at = Instant::now();
                    self.lock().insert(ns, e.clone());
                }
                return Ok(e);
            }
            self.lock().remove(&ns);
        }
        let pid = self.find_init(caller, ns)?;
        let start_ticks = pid::start_ticks(&self.proc_dir(pid))?;
        let (_, dirs) = self.dirs_of(pid, true)?;
        // Re-check after reading the cgroups: the init must not have been replaced meanwhile.
        if start_ticks != pid::start_ticks(&self.proc_dir(pid))? {
            return Err(gone(self.proc_dir(pid)));
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

    /// The host pid of pid 1 of the namespace `ns` that `caller` is in.
    fn find_init(&self, caller: u32, ns: u64) -> Result<u32> {
        let proc_caller = self.proc_dir(caller);
        // The kernel's own translation, where it has one (and /proc is the real one).
        if self.h.proc_root() == Path::new("/proc") {
            if let Ok(f) = std::fs::File::open(proc_caller.join("ns/pid")) {
                if let Ok(init) = crate::kernel::syscall::tgid_in_pidns(&f, 1) {
                    return Ok(init);
                }
            }
        }
        let status = Status::read(&proc_caller)?;
        if status.innermost_pid == 1 {
            return Ok(caller);
        }
        let depth = status.nspid_depth;
        let mut cur = status.ppid;
        // Bounded: a pid namespace nests at most 32 levels, but a parent chain can be long.
        for _ in 0..4096 {
            if cur == 0 {
                break;
            }
            let s = Status::read(&self.proc_dir(cur))?;
            if s.nspid_depth < depth {
                break;
            }
            if s.nspid_depth == depth && s.innermost_pid == 1 {
                return Ok(cur);
            }
            cur = s.ppid;
        }
        // Not an ancestor (the caller entered with setns): find the namespace's pid 1.
        self.scan_for_init(ns).ok_or_else(|| gone(proc_caller))
    }

    /// The process whose pid namespace is `ns` and whose innermost pid is 1, by a scan of
    /// `/proc` (kernels without `NS_GET_TGID_FROM_PIDNS`, once per namespace).
    fn scan_for_init(&self, ns: u64) -> Option<u32> {
        let entries = std::fs::read_dir(self.h.proc_root()).ok()?;
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let dir = self.proc_dir(p);
            if pid::pidns_inode(&dir).ok() != Some(ns) {
                continue;
            }
            if Status::read(&dir).is_ok_and(|s| s.innermost_pid == 1) {
                return Some(p);
            }
        }
        None
    }

    /// The membership text and directories of `pid`'s cgroups.
    fn dirs_of(&self, pid: u32, strip_init_scope: bool) -> Result<(Arc<[u8]>, Arc<ContainerDirs>)> {
        let path = self.proc_dir(pid).join("cgroup");
        with_scratch(|text| {
            read_into(&path, text)?;
            Ok(self.dirs_of_text(text, strip_init_scope))
        })
    }

    /// The same membership text always maps to the same directories, so they are built once
    /// per distinct text and shared; a hit (every read but a container's first) copies nothing.
    fn dirs_of_text(&self, text: &[u8], strip_init_scope: bool) -> (Arc<[u8]>, Arc<ContainerDirs>) {
        if let Some(hit) = self.lock_dirs(strip_init_scope).get(text) {
            return hit.clone();
        }
        let mut cg = ProcCgroups::parse(&String::from_utf8_lossy(text));
        if strip_init_scope {
            cg.strip_init_scope();
        }
        let entry = (Arc::<[u8]>::from(text), Arc::new(self.h.dirs_of(&cg)));
        let mut map = self.lock_dirs(strip_init_scope);
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(text.to_vec(), entry.clone());
        entry
    }

    fn lock_dirs(&self, stripped: bool) -> std::sync::MutexGuard<'_, DirsMap> {
        self.dirs[usize::from(stripped)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// "No such process" for `path`.
fn gone(path: PathBuf) -> super::Error {
    crate::kernel::Error::Read {
        path,
        source: std::io::Error::from_raw_os_error(libc::ESRCH),
    }
    .into()
}
