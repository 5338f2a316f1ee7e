//! The host's hierarchies as the model uses them: for each controller, which version serves it
//! and where its files are, and the mapping from a cgroup path to a directory.

use super::membership::ProcCgroups;
use super::snapshot::ContainerDirs;
use super::{Error, Result};
use crate::kernel::mountinfo::{self, Mounts};
use crate::kernel::read;
use std::path::{Path, PathBuf};

/// The controllers vproc reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    /// Memory limits, usage, swap and `memory.stat`.
    Memory,
    /// CPU quota (`cpu.cfs_quota_us`, `cpu.max`) and, on v2, CPU usage (`cpu.stat`).
    Cpu,
    /// v1 CPU usage accounting. On v2 `cpu.stat` serves it.
    Cpuacct,
    /// Allowed CPUs.
    Cpuset,
    /// Block I/O (v1 `blkio`, v2 `io`).
    Blkio,
    /// Process counts.
    Pids,
}

impl Controller {
    /// Every controller, in a fixed order.
    pub const ALL: [Controller; 6] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Blkio,
        Controller::Pids,
    ];

    /// The v1 subsystem name, as in mount options and `/proc/<pid>/cgroup`.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Blkio => "blkio",
            Controller::Pids => "pids",
        }
    }

    /// The v2 controller name in `cgroup.controllers`, or `None` where v2 files exist in every
    /// cgroup whatever is enabled (`cpu.stat` usage).
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Memory => Some("memory"),
            Controller::Cpu => Some("cpu"),
            Controller::Cpuacct => None,
            Controller::Cpuset => Some("cpuset"),
            Controller::Blkio => Some("io"),
            Controller::Pids => Some("pids"),
        }
    }
}

/// Which cgroup version serves a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// A v1 hierarchy.
    V1,
    /// The unified hierarchy.
    V2,
}

/// A cgroup's directory for one controller, and the top of the walk for hierarchical limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CgroupDir {
    /// Which version's files are in it.
    pub version: Version,
    /// The directory of the cgroup.
    pub dir: PathBuf,
    /// The directory where the mounted hierarchy starts; ancestors are walked up to it.
    pub top: PathBuf,
}

impl CgroupDir {
    /// The directory and each ancestor up to the mounted top, innermost first.
    pub fn self_and_ancestors(&self) -> impl Iterator<Item = &Path> {
        let top = self.top.as_path();
        self.dir.ancestors().take_while(move |p| p.starts_with(top))
    }

    /// A file in this cgroup.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The host's cgroup hierarchies, with the roots they are read under.
#[derive(Debug, Clone)]
pub struct Hierarchies {
    proc_root: PathBuf,
    fs_root: PathBuf,
    mounts: Mounts,
    v2_controllers: Vec<String>,
}

impl Hierarchies {
    /// Discovers the hierarchies of the running host.
    pub fn discover() -> Result<Self> {
        Self::discover_at(Path::new("/proc"), Path::new("/"))
    }

    /// Discovers hierarchies from `<proc_root>/self/mountinfo`, with every mount point read
    /// under `fs_root` (`/` on a host, a temp dir in tests).
    pub fn discover_at(proc_root: &Path, fs_root: &Path) -> Result<Self> {
        let text = read::read(&proc_root.join("self/mountinfo"))?;
        let mounts = mountinfo::parse(&String::from_utf8_lossy(&text));
        let v2_controllers = match &mounts.v2 {
            Some(v2) => {
                let f = mountinfo::under(fs_root, &v2.mount_point).join("cgroup.controllers");
                match read::read(&f) {
                    Ok(t) => String::from_utf8_lossy(&t)
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    Err(_) => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        Ok(Self {
            proc_root: proc_root.to_owned(),
            fs_root: fs_root.to_owned(),
            mounts,
            v2_controllers,
        })
    }

    /// The directory mount points are read under (`/` on a host).
    pub fn fs_root(&self) -> &Path {
        &self.fs_root
    }

    /// The `/proc` directory processes are read under.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// The parsed mounts.
    pub fn mounts(&self) -> &Mounts {
        &self.mounts
    }

    /// Cgroup mounts that show only a subtree (mountinfo's root is not `/`): what a container
    /// gets when its engine binds its own cgroup at `/sys/fs/cgroup`. A daemon there cannot
    /// see other containers' cgroups. As (mount point, root shown).
    pub fn partial_mounts(&self) -> Vec<(PathBuf, PathBuf)> {
        self.mounts
            .v1
            .iter()
            .map(|m| (&m.mount_point, &m.root))
            .chain(self.mounts.v2.iter().map(|m| (&m.mount_point, &m.root)))
            .filter(|(_, root)| root.as_path() != Path::new("/"))
            .map(|(p, r)| (p.clone(), r.clone()))
            .collect()
    }

    /// Which version serves `c`: a v1 hierarchy if one carries it (hybrid hosts keep their
    /// controllers on v1), else the unified hierarchy if the controller is available there.
    pub fn version_of(&self, c: Controller) -> Option<Version> {
        if self.v1_mount(c).is_some() {
            return Some(Version::V1);
        }
        self.mounts.v2.as_ref()?;
        match c.v2_name() {
            None => Some(Version::V2),
            Some(name) if self.v2_controllers.iter().any(|n| n == name) => Some(Version::V2),
            Some(_) => None,
        }
    }

    fn v1_mount(&self, c: Controller) -> Option<&mountinfo::V1Mount> {
        let name = c.v1_name();
        self.mounts
            .v1
            .iter()
            .find(|m| m.controllers.iter().any(|n| n == name))
    }

    /// The v1 controller list as `/proc/<pid>/cgroup` spells it for `c`'s hierarchy
    /// (`cpu,cpuacct` when co-mounted).
    pub(crate) fn v1_controllers(&self, c: Controller) -> Option<&[String]> {
        self.v1_mount(c).map(|m| m.controllers.as_slice())
    }

    /// Maps a cgroup path (as `/proc/<pid>/cgroup` gives it) to its directory for `c`.
    pub fn dir_for(&self, c: Controller, cgroup_path: &Path) -> Result<CgroupDir> {
        let (version, mount_point, root) = match self.version_of(c) {
            Some(Version::V1) => {
                let m = self.v1_mount(c).ok_or(Error::NoController(c))?;
                (Version::V1, &m.mount_point, &m.root)
            }
            Some(Version::V2) => {
                let m = self.mounts.v2.as_ref().ok_or(Error::NoController(c))?;
                (Version::V2, &m.mount_point, &m.root)
            }
            None => return Err(Error::NoController(c)),
        };
        let rel = cgroup_path
            .strip_prefix(root)
            .map_err(|_| Error::NotMounted {
                path: cgroup_path.to_owned(),
            })?;
        let top = mountinfo::under(&self.fs_root, mount_point);
        Ok(CgroupDir {
            version,
            dir: top.join(rel),
            top,
        })
    }

    /// The one mapping from a process's membership to its directories: one per controller the
    /// host has. A controller whose path is missing or outside the mounted part is `None`.
    pub fn dirs_of(&self, membership: &ProcCgroups) -> ContainerDirs {
        let dir = |c: Controller| -> Option<CgroupDir> {
            let p = membership.path_for(self, c)?;
            self.dir_for(c, p).ok()
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

    /// The `cgroup.procs` files a process writes `0` to, to join the cgroups of `membership`
    /// in every hierarchy (`vproc exec`).
    pub fn procs_files(&self, membership: &ProcCgroups) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for m in &self.mounts.v1 {
            if let Some(p) = membership.path_for_controllers(&m.controllers) {
                if let Ok(rel) = p.strip_prefix(&m.root) {
                    out.push(
                        mountinfo::under(&self.fs_root, &m.mount_point)
                            .join(rel)
                            .join("cgroup.procs"),
                    );
                }
            }
        }
        if let (Some(v2), Some(p)) = (&self.mounts.v2, membership.unified()) {
            if let Ok(rel) = p.strip_prefix(&v2.root) {
                out.push(
                    mountinfo::under(&self.fs_root, &v2.mount_point)
                        .join(rel)
                        .join("cgroup.procs"),
                );
            }
        }
        out
    }
}
