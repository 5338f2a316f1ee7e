//! The containers `vproc run` has made, as it records them under `/run/vproc/<name>/`: a `state`
//! file (who runs it, its init, its cgroup directories and the parent levels it created) and
//! the scratch directories its init mounts on. `vproc ps` lists them, `vproc exec NAME` finds
//! one, and `vproc gc` (also run by every `vproc run`) removes what a container that died
//! without cleaning up (its `vproc run` was SIGKILLed) left: processes, cgroups, directories.
//!
//! A record is trusted only while its `vproc run` process is alive with the same start time, so
//! a reused pid never keeps a dead container's record alive.

use crate::cgroup::create;
use crate::cgroup::Version;
use crate::kernel::pid;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where containers are recorded: `/run/vproc` (or the temp dir where there is no `/run`).
pub fn base() -> PathBuf {
    if Path::new("/run").is_dir() {
        PathBuf::from("/run/vproc")
    } else {
        std::env::temp_dir().join("vproc")
    }
}

/// What is recorded about one container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Its name (the directory name, and its cgroup's name).
    pub name: String,
    /// The `vproc run` process.
    pub run_pid: u32,
    /// Its start time (clock ticks since boot).
    pub run_start: u64,
    /// The container's init (host pid), once it exists.
    pub init_pid: Option<u32>,
    /// Whether the init has set the container up (its namespaces, mounts and clock are final;
    /// `vproc exec` waits for this).
    pub ready: bool,
    /// Seconds since the epoch when it was created.
    pub created: u64,
    /// The command.
    pub command: String,
    /// Memory limit in bytes, if any.
    pub memory: Option<u64>,
    /// CPU limit as `quota/period`, if any.
    pub cpus: Option<(u64, u64)>,
    /// The container's own cgroup directories (v1: one per hierarchy; v2: one).
    pub cgroups: Vec<(Version, PathBuf)>,
    /// Parent levels it created, shallowest first.
    pub created_parents: Vec<PathBuf>,
}

impl Record {
    /// The record's directory.
    pub fn dir(&self) -> PathBuf {
        base().join(&self.name)
    }

    fn encode(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "name={}", self.name);
        let _ = writeln!(s, "run_pid={}", self.run_pid);
        let _ = writeln!(s, "run_start={}", self.run_start);
        if let Some(p) = self.init_pid {
            let _ = writeln!(s, "init_pid={p}");
        }
        if self.ready {
            let _ = writeln!(s, "ready=1");
        }
        let _ = writeln!(s, "created={}", self.created);
        let _ = writeln!(s, "command={}", self.command.replace('\n', " "));
        if let Some(m) = self.memory {
            let _ = writeln!(s, "memory={m}");
        }
        if let Some((q, p)) = self.cpus {
            let _ = writeln!(s, "cpus={q}/{p}");
        }
        for (v, c) in &self.cgroups {
            let v = match v {
                Version::V1 => "v1",
                Version::V2 => "v2",
            };
            let _ = writeln!(s, "cgroup={v} {}", c.display());
        }
        for p in &self.created_parents {
            let _ = writeln!(s, "created_parent={}", p.display());
        }
        s
    }

    /// Reads a record's text; `None` if it is not one.
    pub fn decode(text: &str) -> Option<Record> {
        let mut r = Record::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "name" => r.name = v.to_owned(),
                "run_pid" => r.run_pid = v.parse().ok()?,
                "run_start" => r.run_start = v.parse().ok()?,
                "init_pid" => r.init_pid = v.parse().ok(),
                "ready" => r.ready = v == "1",
                "created" => r.created = v.parse().unwrap_or(0),
                "command" => r.command = v.to_owned(),
                "memory" => r.memory = v.parse().ok(),
                "cpus" => {
                    r.cpus = v
                        .split_once('/')
                        .and_then(|(q, p)| Some((q.parse().ok()?, p.parse().ok()?)))
                }
                "cgroup" => {
                    let (ver, path) = v.split_once(' ')?;
                    let ver = if ver == "v2" {
                        Version::V2
                    } else {
                        Version::V1
                    };
                    r.cgroups.push((ver, PathBuf::from(path)));
                }
                "created_parent" => r.created_parents.push(PathBuf::from(v)),
                _ => {}
            }
        }
        (!r.name.is_empty() && r.run_pid > 0).then_some(r)
    }

    /// Writes the record (atomically) into its directory.
    pub fn save(&self) -> std::io::Result<()> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join("state.tmp");
        std::fs::write(&tmp, self.encode())?;
        std::fs::rename(tmp, dir.join("state"))
    }

    /// Whether its `vproc run` still runs (same pid, same start time).
    pub fn is_alive(&self) -> bool {
        pid::start_ticks(&pid::dir(Path::new("/proc"), self.run_pid)).ok() == Some(self.run_start)
    }
}

/// Every recorded container (alive or not).
pub fn list() -> Vec<Record> {
    let Ok(entries) = std::fs::read_dir(base()) else {
        return Vec::new();
    };
    let mut out: Vec<Record> = entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("state")).ok())
        .filter_map(|t| Record::decode(&t))
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    out
}

/// The running container named `name`.
pub fn find(name: &str) -> Option<Record> {
    let text = std::fs::read_to_string(base().join(name).join("state")).ok()?;
    Record::decode(&text).filter(Record::is_alive)
}

/// What `gc` removed for one dead container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// The container's name.
    pub name: String,
    /// The cgroup directories removed.
    pub cgroups: Vec<PathBuf>,
}

/// Removes what dead containers left behind; returns what was reaped.
pub fn gc() -> Vec<Reaped> {
    let mut out = Vec::new();
    for r in list().into_iter().filter(|r| !r.is_alive()) {
        out.push(reap(&r));
    }
    out
}

/// Kills what still runs in a dead container's cgroups, removes them, the parent levels it
/// created (when empty), its scratch directories (only empty ones: nothing mounted is touched)
/// and its record.
pub fn reap(r: &Record) -> Reaped {
    let leaves: Vec<(PathBuf, Version)> = r.cgroups.iter().map(|(v, p)| (p.clone(), *v)).collect();
    create::remove(&leaves, &r.created_parents);
    let dir = r.dir();
    for d in ["root", "overlay", "views"] {
        let _ = std::fs::remove_dir(dir.join(d));
    }
    let _ = std::fs::remove_file(dir.join("state"));
    let _ = std::fs::remove_file(dir.join("state.tmp"));
    let _ = std::fs::remove_dir(&dir);
    Reaped {
        name: r.name.clone(),
        cgroups: r
            .cgroups
            .iter()
            .map(|(_, p)| p.clone())
            .filter(|p| !p.exists())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let r = Record {
            name: "web".into(),
            run_pid: 10,
            run_start: 20,
            init_pid: Some(11),
            ready: true,
            created: 1700000000,
            command: "sh -c 'x'".into(),
            memory: Some(268435456),
            cpus: Some((50000, 100000)),
            cgroups: vec![
                (
                    Version::V1,
                    PathBuf::from("/sys/fs/cgroup/memory/vproc/web"),
                ),
                (Version::V2, PathBuf::from("/sys/fs/cgroup/vproc/web")),
            ],
            created_parents: vec![PathBuf::from("/sys/fs/cgroup/memory/vproc")],
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode("garbage"), None);
        assert_eq!(Record::decode("name=x\nrun_pid=nope\n"), None);
    }
}
