//! Load averages per container: every 5 s, for the containers that read `loadavg` in the last
//! minute only, count their runnable (R) and uninterruptible (D) tasks and fold the count into
//! the kernel's EMA. Cost is one `/proc/<tid>/stat` read per task of those containers per
//! sample, on one thread that never blocks a reader (the state lock is not held while reading).
//! The counting itself is the cgroup model's ([`tasks::count`]).

use super::{Composer, StateKey};
use crate::cgroup::tasks;
use crate::cgroup::{CgroupDir, Version};
use crate::views::loadavg::LoadAvg;
use crate::views::stat::ProcCounts;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The kernel samples load every 5 s; the EMA constants assume it.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(5);
/// A container that has not read `loadavg` for this long is no longer sampled.
const IDLE_AFTER: Duration = Duration::from_secs(60);

/// The load state of one container.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadState {
    /// Averages and counts as shown.
    pub avg: LoadAvg,
    blocked: u64,
    sampled: bool,
    last_read: Option<Instant>,
}

impl LoadState {
    /// Marks the container as a `loadavg` reader, so the sampler follows it.
    pub fn touch(&mut self) {
        self.last_read = Some(Instant::now());
    }

    /// Task counts for `/proc/stat`, once a sample has been taken.
    pub fn procs(&self) -> Option<ProcCounts> {
        self.sampled.then_some(ProcCounts {
            running: self.avg.running,
            blocked: self.blocked,
        })
    }
}

impl Composer {
    /// Takes one sample of every container that read `loadavg` recently.
    pub fn sample_loads(&self) {
        let now = Instant::now();
        let keys: Vec<StateKey> = {
            let mut map = self.states.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, s| {
                s.load
                    .last_read
                    .is_none_or(|t| now.duration_since(t) < IDLE_AFTER * 10)
            });
            map.iter()
                .filter(|(_, s)| {
                    s.load
                        .last_read
                        .is_some_and(|t| now.duration_since(t) < IDLE_AFTER)
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in keys {
            let dir = CgroupDir {
                version: key.version,
                dir: key.cgroup.clone(),
                top: key.cgroup.clone(),
            };
            let count = tasks::count(&dir, self.resolver.hierarchies().proc_root());
            self.with_state(&key, |s| {
                s.load.avg.sample(count.running + count.blocked);
                s.load.avg.running = count.running;
                s.load.avg.total = count.total;
                s.load.avg.last_pid = count.last_pid;
                s.load.blocked = count.blocked;
                s.load.sampled = true;
            });
        }
    }

    /// Writes the load state of the followed containers to `path` (atomically), so a worker
    /// that replaces this one continues the averages instead of restarting them from zero.
    /// One line per container: `start_ticks|- avg1 avg5 avg15 running total last_pid blocked
    /// v1|v2 cgroup-dir`.
    pub fn save_loads(&self, path: &Path) -> std::io::Result<()> {
        use std::fmt::Write;
        let mut text = String::new();
        {
            let map = self.states.lock().unwrap_or_else(|p| p.into_inner());
            for (k, s) in map.iter().filter(|(_, s)| s.load.sampled) {
                let a = &s.load.avg;
                let start = k.start_ticks.map_or("-".to_owned(), |t| t.to_string());
                let version = match k.version {
                    Version::V1 => "v1",
                    Version::V2 => "v2",
                };
                let _ = writeln!(
                    text,
                    "{start} {} {} {} {} {} {} {} {version} {}",
                    a.avenrun[0],
                    a.avenrun[1],
                    a.avenrun[2],
                    a.running,
                    a.total,
                    a.last_pid,
                    s.load.blocked,
                    k.cgroup.display()
                );
            }
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// Loads what [`Composer::save_loads`] wrote; malformed lines are skipped. The containers
    /// are followed as if they had just read `loadavg`.
    pub fn restore_loads(&self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        for line in text.lines() {
            let mut f = line.splitn(10, ' ');
            let start = f.next().map(|v| v.parse::<u64>().ok());
            let nums: Vec<u64> = f.by_ref().take(7).filter_map(|v| v.parse().ok()).collect();
            let version = match f.next() {
                Some("v1") => Version::V1,
                Some("v2") => Version::V2,
                _ => continue,
            };
            let (Some(start_ticks), [a1, a5, a15, running, total, last_pid, blocked], Some(cgroup)) =
                (start, nums.as_slice(), f.next())
            else {
                continue;
            };
            let key = StateKey {
                version,
                cgroup: cgroup.into(),
                start_ticks,
            };
            self.with_state(&key, |s| {
                s.load.avg = LoadAvg {
                    avenrun: [*a1, *a5, *a15],
                    running: *running,
                    total: *total,
                    last_pid: *last_pid,
                };
                s.load.blocked = *blocked;
                s.load.sampled = true;
                s.load.touch();
            });
        }
    }
}

/// The sampler thread; stops when dropped.
#[derive(Debug)]
pub struct Sampler {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling every [`SAMPLE_PERIOD`]; with `state`, restores the load state saved
    /// there and saves it after every sample.
    pub fn spawn(composer: Arc<Composer>, state: Option<PathBuf>) -> std::io::Result<Sampler> {
        if let Some(p) = &state {
            composer.restore_loads(p);
        }
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vproc:loadavg".into())
            .spawn(move || loop {
                match rx.recv_timeout(SAMPLE_PERIOD) {
                    Err(RecvTimeoutError::Timeout) => {
                        composer.sample_loads();
                        if let Some(p) = &state {
                            if let Err(e) = composer.save_loads(p) {
                                tracing::debug!(error = %e, "saving the load state");
                            }
                        }
                    }
                    _ => return,
                }
            })?;
        Ok(Sampler {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod persist_tests {
    use super::*;
    use crate::cgroup::resolve::{Mode, Resolver};
    use crate::cgroup::Hierarchies;
    use crate::host::HostRoots;

    fn composer() -> Composer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/dev-machine");
        let h = Hierarchies::discover_at(&root.join("proc"), &root).unwrap();
        Composer::new(
            Resolver::new(h, Mode::Container).unwrap(),
            HostRoots::at(&root.join("proc"), &root.join("sys")),
        )
    }

    #[test]
    fn load_state_survives_a_new_composer() {
        let a = composer();
        let key = StateKey {
            version: Version::V1,
            cgroup: PathBuf::from("/sys/fs/cgroup/cpuacct/my ctr"),
            start_ticks: Some(60000),
        };
        a.with_state(&key, |s| {
            s.load.avg = LoadAvg {
                avenrun: [1234, 567, 89],
                running: 2,
                total: 9,
                last_pid: 42,
            };
            s.load.blocked = 1;
            s.load.sampled = true;
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("load");
        a.save_loads(&file).unwrap();
        let b = composer();
        b.restore_loads(&file);
        let got = b.with_state(&key, |s| {
            (s.load.avg, s.load.blocked, s.load.procs().is_some())
        });
        assert_eq!(
            got,
            (
                LoadAvg {
                    avenrun: [1234, 567, 89],
                    running: 2,
                    total: 9,
                    last_pid: 42
                },
                1,
                true
            )
        );
        std::fs::write(&file, "garbage\n- 1 2\n").unwrap();
        composer().restore_loads(&file);
    }
}
