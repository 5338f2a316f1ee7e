//! The container's cgroup: created under a parent in every hierarchy vproc limits (v1: memory,
//! cpu, cpuacct, cpuset, pids, blkio; v2: one directory with those controllers enabled), the
//! requested limits written, and everything killed and removed on drop, on every exit path.

use super::Error;
use crate::cgroup::mountinfo::V1Mount;
use crate::cgroup::{Hierarchies, ProcCgroups};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// v1 controllers a container gets its own cgroup in.
const V1_CONTROLLERS: [&str; 6] = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"];
/// v2 controllers enabled for containers.
const V2_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuset", "pids", "io"];

/// Swap setting, docker's `--memory-swap` (memory plus swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySwap {
    /// Memory plus swap may not exceed this many bytes.
    Total(u64),
    /// Swap is not limited (`-1`).
    Unlimited,
}

/// The limits of one container. `None` leaves the parent's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_swap: Option<MemorySwap>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids: Option<u64>,
    pub blkio_weight: Option<u16>,
}

#[derive(Debug)]
struct Dir {
    path: PathBuf,
    v2: bool,
}

/// A container's cgroup directories; removed on drop.
#[derive(Debug)]
pub struct ContainerCgroup {
    dirs: Vec<Dir>,
}

impl ContainerCgroup {
    /// Creates `<parent>/<name>` in every relevant hierarchy and writes `limits`. `parent` is
    /// absolute (from each hierarchy's root) or relative to this process's own cgroup (`.` is
    /// the own cgroup itself).
    pub fn create(
        h: &Hierarchies,
        parent: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let own_text = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| Error::io("reading", "/proc/self/cgroup", e))?;
        let own = ProcCgroups::parse(&own_text);
        let mut cg = ContainerCgroup { dirs: Vec::new() };
        let mounts = h.mounts();
        let wanted: Vec<&V1Mount> = mounts
            .v1
            .iter()
            .filter(|m| {
                m.controllers
                    .iter()
                    .any(|c| V1_CONTROLLERS.contains(&c.as_str()))
            })
            .collect();
        if !wanted.is_empty() {
            for m in wanted {
                let own_path = own
                    .path_for_controllers(&m.controllers)
                    .unwrap_or(Path::new("/"));
                let base = resolve_parent(&m.mount_point, &m.root, own_path, parent);
                cg.make(base.join(name), false, &m.controllers)?;
            }
        } else if let Some(v2) = &mounts.v2 {
            let own_path = own.unified().unwrap_or(Path::new("/"));
            let base = resolve_parent(&v2.mount_point, &v2.root, own_path, parent);
            enable_v2_controllers(&v2.mount_point, &base)?;
            cg.make(base.join(name), true, &[])?;
        } else {
            return Err(Error::NoCgroups);
        }
        cg.apply(limits)?;
        Ok(cg)
    }

    fn make(&mut self, path: PathBuf, v2: bool, controllers: &[String]) -> Result<(), Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        std::fs::create_dir(&path)
            .map_err(|e| Error::io("creating the container cgroup", &path, e))?;
        // Registered before anything else can fail, so Drop removes it.
        self.dirs.push(Dir {
            path: path.clone(),
            v2,
        });
        if controllers.iter().any(|c| c == "cpuset") {
            // A v1 cpuset accepts no task until it has CPUs and memory nodes.
            let parent = path.parent().unwrap_or(Path::new("/"));
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = std::fs::read_to_string(parent.join(f))
                    .map_err(|e| Error::io("reading", parent.join(f), e))?;
                write(&path.join(f), v.trim())?;
            }
        }
        Ok(())
    }

    /// The directory carrying `file` (v1: the hierarchy that has it; v2: the one directory).
    fn dir_with(&self, file: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .map(|d| d.path.as_path())
            .find(|d| d.join(file).exists())
    }

    fn set(&self, files: &[&str], value: &str, what: &'static str) -> Result<(), Error> {
        for f in files {
            if let Some(d) = self.dir_with(f) {
                return write(&d.join(f), value);
            }
        }
        Err(Error::NoController(what))
    }

    fn apply(&self, l: &Limits) -> Result<(), Error> {
        let v2 = self.dirs.first().is_some_and(|d| d.v2);
        if let Some(mem) = l.memory {
            if v2 {
                self.set(&["memory.max"], &mem.to_string(), "memory")?;
            } else {
                self.set(&["memory.limit_in_bytes"], &mem.to_string(), "memory")?;
            }
        }
        // Docker's default: as much swap as memory, where the kernel accounts swap.
        let swap = l
            .memory_swap
            .or(l.memory.map(|m| MemorySwap::Total(m.saturating_mul(2))));
        let explicit_swap = l.memory_swap.is_some();
        if let Some(swap) = swap {
            let file = if v2 {
                "memory.swap.max"
            } else {
                "memory.memsw.limit_in_bytes"
            };
            let value = match (swap, v2) {
                (MemorySwap::Unlimited, true) => "max".to_owned(),
                (MemorySwap::Unlimited, false) => "-1".to_owned(),
                (MemorySwap::Total(t), true) => t.saturating_sub(l.memory.unwrap_or(0)).to_string(),
                (MemorySwap::Total(t), false) => t.to_string(),
            };
            match self.set(&[file], &value, "memory swap accounting") {
                Err(Error::NoController(_)) if !explicit_swap => {}
                r => r?,
            }
        }
        if l.cpu_quota_us.is_some() || l.cpu_period_us.is_some() {
            let period = l.cpu_period_us.unwrap_or(100_000);
            if v2 {
                let quota = l.cpu_quota_us.map_or("max".to_owned(), |q| q.to_string());
                self.set(&["cpu.max"], &format!("{quota} {period}"), "cpu")?;
            } else {
                self.set(&["cpu.cfs_period_us"], &period.to_string(), "cpu")?;
                if let Some(q) = l.cpu_quota_us {
                    self.set(&["cpu.cfs_quota_us"], &q.to_string(), "cpu")?;
                }
            }
        }
        if let Some(cpus) = &l.cpuset_cpus {
            self.set(&["cpuset.cpus"], cpus, "cpuset")?;
        }
        if let Some(p) = l.pids {
            self.set(&["pids.max"], &p.to_string(), "pids")?;
        }
        if let Some(w) = l.blkio_weight {
            if v2 {
                self.set(
                    &["io.weight", "io.bfq.weight"],
                    &format!("default {w}"),
                    "io weight",
                )?;
            } else {
                self.set(
                    &["blkio.weight", "blkio.bfq.weight"],
                    &w.to_string(),
                    "blkio weight",
                )?;
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` files a process writes `0` to, to join the container.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.path.join("cgroup.procs"))
            .collect()
    }

    /// The container's cgroup directory in the memory hierarchy (or the v2 directory).
    pub fn memory_dir(&self) -> Option<&Path> {
        self.dir_with("memory.stat")
    }

    /// How many processes the kernel's OOM killer killed in the container.
    pub fn oom_kills(&self) -> u64 {
        let Some(d) = self.memory_dir() else { return 0 };
        ["memory.events", "memory.oom_control"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(d.join(f)).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.strip_prefix("oom_kill "))
                    .filter_map(|v| v.trim().parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .max()
            .unwrap_or(0)
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for d in self.dirs.iter().rev() {
            loop {
                let procs =
                    std::fs::read_to_string(d.path.join("cgroup.procs")).unwrap_or_default();
                let pids: Vec<i32> = procs
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect();
                if pids.is_empty() && std::fs::remove_dir(&d.path).is_ok() {
                    break;
                }
                if !d.path.exists() || Instant::now() > deadline {
                    if d.path.exists() {
                        tracing::warn!(cgroup = %d.path.display(), "could not remove the container cgroup");
                    }
                    break;
                }
                if d.v2 && std::fs::write(d.path.join("cgroup.kill"), "1").is_ok() {
                } else {
                    for p in pids {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(p),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn resolve_parent(mount_point: &Path, mount_root: &Path, own: &Path, parent: &str) -> PathBuf {
    let in_hierarchy = if parent.starts_with('/') {
        PathBuf::from(parent)
    } else if parent == "." || parent.is_empty() {
        own.to_owned()
    } else {
        own.join(parent)
    };
    let rel = in_hierarchy
        .strip_prefix(mount_root)
        .unwrap_or(&in_hierarchy);
    mount_point.join(rel.strip_prefix("/").unwrap_or(rel))
}

fn enable_v2_controllers(mount_point: &Path, base: &Path) -> Result<(), Error> {
    let available =
        std::fs::read_to_string(mount_point.join("cgroup.controllers")).unwrap_or_default();
    let enable: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| available.split_whitespace().any(|a| a == **c))
        .map(|c| format!("+{c}"))
        .collect();
    std::fs::create_dir_all(base).map_err(|e| Error::io("creating", base, e))?;
    // Every level from the root down to the parent must delegate the controllers.
    let mut dirs: Vec<&Path> = base
        .ancestors()
        .take_while(|p| p.starts_with(mount_point))
        .collect();
    dirs.reverse();
    for d in dirs {
        for c in &enable {
            // A controller the level cannot enable (threaded, or busy) is left out.
            let _ = std::fs::write(d.join("cgroup.subtree_control"), c);
        }
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(|e| Error::io("writing", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        let mp = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            resolve_parent(mp, Path::new("/"), Path::new("/a/b"), "vproc"),
            PathBuf::from("/sys/fs/cgroup/memory/a/b/vproc")
        );
        assert_eq!(
            resolve_parent(mp, Path::new("/"), Path::new("/a/b"), "."),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            resolve_parent(mp, Path::new("/"), Path::new("/a/b"), "/vproc"),
            PathBuf::from("/sys/fs/cgroup/memory/vproc")
        );
    }
}
