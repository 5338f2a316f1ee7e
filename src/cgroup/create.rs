//! A container's own cgroup: `<parent>/<name>` created in every hierarchy a container is limited
//! in (v1: memory, cpu, cpuacct, cpuset, pids, blkio; v2: one directory), every level made
//! usable on the way, and everything removed again on drop, on every exit path.
//!
//! Usable means: a new v1 cpuset level gets its parent's `cpuset.cpus` and `cpuset.mems` (it
//! accepts no task without them), and every v2 level from the mount's root down delegates the
//! controllers in `cgroup.subtree_control`. Levels created on the way to the parent are
//! recorded, and removed when they are empty after the container's own directory.

use super::hierarchy::{CgroupDir, Controller, Hierarchies, Version};
use super::membership::ProcCgroups;
use super::snapshot::ContainerDirs;
use super::{tasks, v1};
use crate::kernel::mountinfo;
use crate::kernel::read::write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// v1 controllers a container gets its own cgroup in.
const V1_CONTROLLERS: [&str; 6] = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"];
/// v2 controllers enabled for containers.
const V2_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuset", "pids", "io"];

/// Why a container's cgroup could not be made; every message names what to change.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The host has no hierarchy a container could be limited in.
    #[error("no cgroup hierarchy is mounted")]
    NoCgroups,
    /// `/proc/self/cgroup` could not be read.
    #[error("reading /proc/self/cgroup")]
    OwnCgroup(#[source] std::io::Error),
    /// A directory could not be created.
    #[error("creating the cgroup {path}")]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A container of this name exists already.
    #[error("the cgroup {0} exists already: is a container with this name running? (vproc ps; vproc gc removes those of dead containers)")]
    Exists(PathBuf),
    /// A v1 cpuset level has no CPUs or memory nodes to give a child.
    #[error("the cpuset cgroup {path} has no {file}, so no container can run below it; give it some (echo 0-N > {path}/{file}) or choose another --cgroup-parent")]
    EmptyCpuset {
        /// The level without them.
        path: PathBuf,
        /// `cpuset.cpus` or `cpuset.mems`.
        file: &'static str,
    },
    /// A v2 level refused to delegate a controller.
    #[error("cannot enable the {controller} controller below {path}: {reason}; choose a --cgroup-parent whose ancestors delegate it")]
    Delegation {
        /// The level.
        path: PathBuf,
        /// The controller.
        controller: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// Any other control file write failed.
    #[error(transparent)]
    File(#[from] crate::kernel::Error),
}

/// One hierarchy's part of the container's cgroup.
#[derive(Debug, Clone)]
struct Leaf {
    version: Version,
    /// The container's own directory.
    dir: PathBuf,
    /// Where the mounted hierarchy starts.
    top: PathBuf,
    /// Controllers of this hierarchy (v1), empty for v2.
    controllers: Vec<String>,
}

/// A container's cgroup directories; removed on drop (its processes killed first), with the
/// parent levels this created when they are empty.
#[derive(Debug)]
pub struct ContainerCgroup {
    leaves: Vec<Leaf>,
    /// Levels created on the way to the parent, in creation order (shallowest first).
    created: Vec<PathBuf>,
    dirs: ContainerDirs,
    keep: bool,
}

impl ContainerCgroup {
    /// Creates `<parent>/<name>` in every relevant hierarchy. `parent` is absolute (from each
    /// hierarchy's root) or relative to this process's own cgroup (`.` is the own cgroup).
    pub fn create(h: &Hierarchies, parent: &str, name: &str) -> Result<Self, CreateError> {
        let own_text =
            std::fs::read_to_string("/proc/self/cgroup").map_err(CreateError::OwnCgroup)?;
        let own = ProcCgroups::parse(&own_text);
        let mut cg = ContainerCgroup {
            leaves: Vec::new(),
            created: Vec::new(),
            dirs: ContainerDirs::default(),
            keep: false,
        };
        let mounts = h.mounts();
        let wanted: Vec<_> = mounts
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
                let top = mountinfo::under(h.fs_root(), &m.mount_point);
                let base = in_mount(&top, &m.root, own_path, parent);
                cg.make(&top, &base, name, Version::V1, &m.controllers)?;
            }
        } else if let Some(v2) = &mounts.v2 {
            let own_path = own.unified().unwrap_or(Path::new("/"));
            let top = mountinfo::under(h.fs_root(), &v2.mount_point);
            let base = in_mount(&top, &v2.root, own_path, parent);
            cg.make(&top, &base, name, Version::V2, &[])?;
        } else {
            return Err(CreateError::NoCgroups);
        }
        cg.dirs = cg.build_dirs(h);
        Ok(cg)
    }

    /// Creates `base/name` under the mounted `top`, every missing level of `base` first.
    fn make(
        &mut self,
        top: &Path,
        base: &Path,
        name: &str,
        version: Version,
        controllers: &[String],
    ) -> Result<(), CreateError> {
        let cpuset = controllers.iter().any(|c| c == "cpuset");
        // Levels from the top down to the base; the missing ones are created and made usable.
        let mut levels: Vec<&Path> = base
            .ancestors()
            .take_while(|p| p.starts_with(top))
            .collect();
        levels.reverse();
        if version == Version::V2 {
            delegate(top, &levels)?;
        }
        for level in levels.iter().skip(1) {
            if level.is_dir() {
                continue;
            }
            std::fs::create_dir(level).map_err(|source| CreateError::Mkdir {
                path: level.to_path_buf(),
                source,
            })?;
            self.created.push(level.to_path_buf());
            if cpuset {
                inherit_cpuset(level)?;
            }
            if version == Version::V2 {
                enable_controllers(top, level)?;
            }
        }
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CreateError::Exists(dir))
            }
            Err(source) => return Err(CreateError::Mkdir { path: dir, source }),
        }
        // Registered before anything else can fail, so Drop removes it.
        self.leaves.push(Leaf {
            version,
            dir: dir.clone(),
            top: top.to_owned(),
            controllers: controllers.to_vec(),
        });
        if cpuset {
            inherit_cpuset(&dir)?;
        }
        Ok(())
    }

    fn build_dirs(&self, h: &Hierarchies) -> ContainerDirs {
        let leaf_for = |c: Controller| -> Option<CgroupDir> {
            let leaf = match h.version_of(c)? {
                Version::V1 => {
                    let want = h.v1_controllers(c)?;
                    self.leaves
                        .iter()
                        .find(|l| l.version == Version::V1 && l.controllers == want)?
                }
                Version::V2 => self.leaves.iter().find(|l| l.version == Version::V2)?,
            };
            Some(CgroupDir {
                version: leaf.version,
                dir: leaf.dir.clone(),
                top: leaf.top.clone(),
            })
        };
        ContainerDirs {
            memory: leaf_for(Controller::Memory),
            cpu: leaf_for(Controller::Cpu),
            cpuacct: leaf_for(Controller::Cpuacct),
            cpuset: leaf_for(Controller::Cpuset),
            blkio: leaf_for(Controller::Blkio),
            pids: leaf_for(Controller::Pids),
        }
    }

    /// The container's directories, one per controller.
    pub fn dirs(&self) -> &ContainerDirs {
        &self.dirs
    }

    /// The container's own directories, one per hierarchy.
    pub fn leaf_dirs(&self) -> Vec<PathBuf> {
        self.leaves.iter().map(|l| l.dir.clone()).collect()
    }

    /// Treats the parent levels as this container's own too (the default parent, `/vproc`, which
    /// vproc owns): removed when they are empty after it, even if another container made them.
    pub fn own_default_parent(&mut self) {
        for l in &self.leaves {
            if let Some(p) = l.dir.parent() {
                if p != l.top && !self.created.iter().any(|c| c == p) {
                    self.created.insert(0, p.to_owned());
                }
            }
        }
    }

    /// The container's own directories with their versions.
    pub fn leaves(&self) -> Vec<(Version, PathBuf)> {
        self.leaves
            .iter()
            .map(|l| (l.version, l.dir.clone()))
            .collect()
    }

    /// The parent levels this created, shallowest first.
    pub fn created_parents(&self) -> &[PathBuf] {
        &self.created
    }

    /// The `cgroup.procs` files a process writes `0` to, to join the container.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.leaves
            .iter()
            .map(|l| l.dir.join("cgroup.procs"))
            .collect()
    }

    /// Leaves the directories in place when dropped (another process removes them later).
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let leaves: Vec<(PathBuf, Version)> = self
            .leaves
            .iter()
            .map(|l| (l.dir.clone(), l.version))
            .collect();
        remove(&leaves, &self.created);
    }
}

/// Removes a container's directories: kills what runs in them (v2 `cgroup.kill`, else SIGKILL
/// to each process) until they are empty, removes them, then removes `created` parent levels
/// (deepest first) that are empty. Gives up on a directory after 10 s, with a warning.
pub fn remove(leaves: &[(PathBuf, Version)], created: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for (dir, version) in leaves.iter().rev() {
        loop {
            let pids = tasks::procs(dir);
            if pids.is_empty() && std::fs::remove_dir(dir).is_ok() {
                break;
            }
            if !dir.exists() {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(cgroup = %dir.display(), "could not remove the container cgroup");
                break;
            }
            let killed = *version == Version::V2 && write(&dir.join("cgroup.kill"), "1").is_ok();
            if !killed {
                for p in pids {
                    if let Ok(p) = i32::try_from(p) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(p),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // A level another container still uses is not empty: rmdir fails, and it stays.
    for level in created.iter().rev() {
        let _ = std::fs::remove_dir(level);
    }
}

/// The directory of the parent under the mounted `top` whose cgroup root is `mount_root`:
/// `parent` absolute (from the hierarchy's root), or relative to `own` (this process's path).
pub fn in_mount(top: &Path, mount_root: &Path, own: &Path, parent: &str) -> PathBuf {
    let in_hierarchy = if parent.starts_with('/') {
        PathBuf::from(parent)
    } else if parent == "." || parent.is_empty() {
        own.to_owned()
    } else {
        own.join(parent.trim_start_matches("./"))
    };
    let rel = in_hierarchy
        .strip_prefix(mount_root)
        .unwrap_or(&in_hierarchy);
    top.join(rel.strip_prefix("/").unwrap_or(rel))
}

fn inherit_cpuset(dir: &Path) -> Result<(), CreateError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let v = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
        if v.trim().is_empty() {
            return Err(CreateError::EmptyCpuset {
                path: parent.to_owned(),
                file,
            });
        }
    }
    Ok(v1::cpuset::inherit(dir)?)
}

/// The controllers containers use that the mount's root offers.
fn v2_wanted(top: &Path) -> Vec<&'static str> {
    let available = std::fs::read_to_string(top.join("cgroup.controllers")).unwrap_or_default();
    V2_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| available.split_whitespace().any(|a| a == *c))
        .collect()
}

/// Every existing level from the top down to the deepest existing one delegates the wanted
/// controllers to its children.
fn delegate(top: &Path, levels: &[&Path]) -> Result<(), CreateError> {
    for level in levels.iter().filter(|l| l.is_dir()) {
        enable_controllers(top, level)?;
    }
    Ok(())
}

/// Enables the wanted controllers in `level`'s `cgroup.subtree_control`, so its children get
/// them. A level that already delegates one is left alone.
fn enable_controllers(top: &Path, level: &Path) -> Result<(), CreateError> {
    let enabled = std::fs::read_to_string(level.join("cgroup.subtree_control")).unwrap_or_default();
    let offered = std::fs::read_to_string(level.join("cgroup.controllers")).unwrap_or_default();
    for c in v2_wanted(top) {
        if enabled.split_whitespace().any(|e| e == c) {
            continue;
        }
        if !offered.split_whitespace().any(|o| o == c) {
            // The parent did not delegate it (a level above refused); the container runs
            // without that controller's limit, which `apply` reports if one was asked for.
            continue;
        }
        if let Err(e) = write(&level.join("cgroup.subtree_control"), &format!("+{c}")) {
            let reason = match &e {
                crate::kernel::Error::Write { source, .. }
                    if source.raw_os_error() == Some(libc::EBUSY) =>
                {
                    "the cgroup has processes of its own (cgroup v2 lets only cgroups without processes delegate controllers)".to_owned()
                }
                other => other.to_string(),
            };
            return Err(CreateError::Delegation {
                path: level.to_owned(),
                controller: c,
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        let top = Path::new("/sys/fs/cgroup/memory");
        let root = Path::new("/");
        assert_eq!(
            in_mount(top, root, Path::new("/a/b"), "vproc"),
            PathBuf::from("/sys/fs/cgroup/memory/a/b/vproc")
        );
        assert_eq!(
            in_mount(top, root, Path::new("/a/b"), "./x/y"),
            PathBuf::from("/sys/fs/cgroup/memory/a/b/x/y")
        );
        assert_eq!(
            in_mount(top, root, Path::new("/a/b"), "."),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            in_mount(top, root, Path::new("/a/b"), "/vproc"),
            PathBuf::from("/sys/fs/cgroup/memory/vproc")
        );
        // A bind-mounted hierarchy (its root is /a): paths are relative to that root.
        assert_eq!(
            in_mount(top, Path::new("/a"), Path::new("/a/b"), "/a/c"),
            PathBuf::from("/sys/fs/cgroup/memory/c")
        );
    }
}
