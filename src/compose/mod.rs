//! Composes one view for one container: reads the host files and the cgroup parts that view
//! needs (each once, shared for the cache TTL), keeps the state a container's views carry from
//! read to read (counters that never go backwards, load averages), and calls the view's pure
//! renderer.
//!
//! This is the only place that joins `cgroup/`, `host/` and `views/`; the FUSE layer, the
//! sysinfo handler and the CLI all call it. A caller whose container cannot be resolved gets the
//! host's view, counted by reason.
#![forbid(unsafe_code)]

mod cache;
pub mod load;

use crate::cgroup::resolve::{Container, Resolver};
use crate::cgroup::{read_snapshot, CgroupSnapshot, ContainerDirs, CpuSet, Parts, Version};
use crate::host::{self, HostFile, HostRoots};
use crate::views::{self, stat::StatHistory, Clock, CpuView, ViewId};
use cache::TtlCache;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether a read was answered for a container or with the host's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The caller's container was resolved.
    Container,
    /// It was not (the caller exited, or is invisible): host values were served.
    HostFallback,
}

/// The cgroup parts a view needs.
fn parts(view: ViewId) -> Parts {
    let none = Parts::default();
    match view {
        ViewId::Meminfo | ViewId::Swaps => Parts {
            memory: true,
            ..none
        },
        ViewId::Cpuinfo | ViewId::CpuOnline | ViewId::CpuPossible | ViewId::CpuPresent => Parts {
            cpu_limits: true,
            ..none
        },
        ViewId::Vmstat => Parts {
            memory: true,
            io: true,
            ..none
        },
        ViewId::Stat | ViewId::Uptime => Parts {
            cpu_limits: true,
            cpu_usage: true,
            ..none
        },
        ViewId::Loadavg => Parts { pids: true, ..none },
        ViewId::Diskstats => Parts { io: true, ..none },
        ViewId::PressureCpu => Parts {
            psi_cpu: true,
            ..none
        },
        ViewId::PressureMemory => Parts {
            psi_memory: true,
            ..none
        },
        ViewId::PressureIo => Parts {
            psi_io: true,
            ..none
        },
    }
}

/// Per-container state that outlives one read.
#[derive(Debug, Default)]
struct ContainerState {
    stat: StatHistory,
    load: load::LoadState,
}

/// Most containers whose state is kept; beyond it the map is cleared (state rebuilds itself).
const MAX_STATES: usize = 16384;

/// Host file bytes, shared by every reader within the cache TTL.
type HostBytes = Arc<Vec<u8>>;

/// The host's `sysinfo(2)` (all zero but `mem_unit` if the call fails).
pub fn host_sysinfo() -> libc::sysinfo {
    crate::kernel::syscall::sysinfo().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "sysinfo");
        let mut z = crate::kernel::syscall::zeroed_sysinfo();
        z.mem_unit = 1;
        z
    })
}

/// How long after its init started a container counts as starting (see
/// [`Composer::is_starting`]): long enough for a runtime's hooks between the mounts and the
/// limits, short enough that a container's own reads soon come from the caches.
pub const STARTING: Duration = Duration::from_secs(10);

/// Composes views for containers.
pub struct Composer {
    resolver: Resolver,
    host: HostRoots,
    clk_tck: u64,
    /// The host's page size, for the page counts of vmstat.
    page_size: u64,
    ttl: Duration,
    fixed_uptime_cs: Option<u64>,
    host_files: TtlCache<HostFile, HostBytes>,
    snapshots: TtlCache<(Arc<ContainerDirs>, Parts), Arc<CgroupSnapshot>>,
    states: Mutex<HashMap<StateKey, ContainerState>>,
}

impl std::fmt::Debug for Composer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composer")
            .field("host", &self.host)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Composer {
    /// A composer reading host files under `host` and containers through `resolver`, with no
    /// caching (every view reads what it needs).
    pub fn new(resolver: Resolver, host: HostRoots) -> Self {
        // USER_HZ is 100 on every Linux; it is only a fallback if sysconf fails.
        let clk_tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v > 0)
            .unwrap_or(100);
        let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v > 0)
            .unwrap_or(4096);
        Self {
            resolver,
            host,
            clk_tck,
            page_size,
            ttl: Duration::ZERO,
            fixed_uptime_cs: None,
            host_files: TtlCache::new(Duration::ZERO),
            snapshots: TtlCache::new(Duration::ZERO),
            states: Mutex::new(HashMap::new()),
        }
    }

    /// A composer for this host (`/proc`, `/sys`, the mounted hierarchies), caching for `ttl`.
    pub fn for_host(
        mode: crate::cgroup::resolve::Mode,
        ttl: Duration,
    ) -> Result<Self, crate::cgroup::Error> {
        let resolver = Resolver::new(crate::cgroup::Hierarchies::discover()?, mode)?;
        Ok(Self::new(resolver, HostRoots::default()).with_cache_ttl(ttl))
    }

    /// Reuses host files and cgroup values for up to `ttl` between views, so a burst of reads
    /// costs one read of each file. The clock is always read fresh.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self.host_files = TtlCache::new(ttl);
        self.snapshots = TtlCache::new(ttl);
        self
    }

    /// Uses a fixed host uptime instead of the clock, so fixture tests are reproducible.
    pub fn with_fixed_uptime(mut self, uptime_cs: u64, clk_tck: u64) -> Self {
        self.fixed_uptime_cs = Some(uptime_cs);
        self.clk_tck = clk_tck;
        self
    }

    /// How long values are reused.
    pub fn cache_ttl(&self) -> Duration {
        self.ttl
    }

    /// The resolver.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Composes `view` for the process `pid` into `out` (appended).
    pub fn compose_for_pid(&self, view: ViewId, pid: u32, out: &mut Vec<u8>) -> Served {
        match self.resolver.resolve(pid) {
            Ok(c) => {
                self.compose(view, Some(&c), out);
                Served::Container
            }
            Err(e) => {
                tracing::debug!(pid, error = %e, "caller not resolved, host view served");
                self.compose(view, None, out);
                Served::HostFallback
            }
        }
    }

    /// Composes `view` for a resolved container, or the host's view for `None`.
    pub fn compose(&self, view: ViewId, c: Option<&Container>, out: &mut Vec<u8>) {
        let snap = match c {
            Some(c) => self.snapshot(c, parts(view)),
            None => Arc::default(),
        };
        let start_cs = c
            .and_then(|c| c.start_ticks)
            .map(|t| Clock::ticks_to_cs(t, self.clk_tck));
        match view {
            ViewId::Meminfo => views::meminfo::render(
                &self.host_file(HostFile::Meminfo),
                snap.memory.as_ref(),
                out,
            ),
            ViewId::Swaps => {
                let meminfo = self.host_file(HostFile::Meminfo);
                let figures = snap.memory.as_ref().and_then(|m| {
                    let total = host::meminfo::value(&meminfo, b"MemTotal")?;
                    let swap = host::meminfo::value(&meminfo, b"SwapTotal").unwrap_or(0);
                    Some(views::meminfo::MemFigures::new(total, swap, m))
                });
                views::swaps::render(&self.host_file(HostFile::Swaps), figures.as_ref(), out);
            }
            ViewId::Cpuinfo => {
                let v = self.cpu_view(&snap);
                views::cpuinfo::render(&self.host_file(HostFile::Cpuinfo), &v.visible, out);
            }
            // glibc counts `possible` for sysconf(_SC_NPROCESSORS_CONF), lscpu `present`: the
            // container's CPUs, as `online`.
            ViewId::CpuOnline | ViewId::CpuPossible | ViewId::CpuPresent => {
                views::online::render(&self.cpu_view(&snap).visible, out)
            }
            ViewId::Vmstat => views::vmstat::render(
                &self.host_file(HostFile::Vmstat),
                snap.memory.as_ref(),
                snap.io.as_ref(),
                self.page_size,
                out,
            ),
            ViewId::PressureCpu => views::pressure::render(
                &self.host_file(HostFile::PressureCpu),
                snap.pressure.cpu.as_ref(),
                out,
            ),
            ViewId::PressureMemory => views::pressure::render(
                &self.host_file(HostFile::PressureMemory),
                snap.pressure.memory.as_ref(),
                out,
            ),
            ViewId::PressureIo => views::pressure::render(
                &self.host_file(HostFile::PressureIo),
                snap.pressure.io.as_ref(),
                out,
            ),
            ViewId::Stat => {
                let v = self.cpu_view(&snap);
                let clock = self.clock(start_cs);
                let mut procs = None;
                let mut last_pid = None;
                let times = snap.cpu.usage.as_ref().map(|u| {
                    let mut t = views::stat::cpu_times(&v, u, &clock);
                    if let Some(key) = c.and_then(state_key) {
                        self.with_state(&key, |s| {
                            s.stat.apply(&mut t);
                            procs = s.load.procs();
                            last_pid = Some(s.load.avg.last_pid).filter(|&p| p > 0);
                        });
                    }
                    t
                });
                let host_cpus = self.host_online().len().max(1) as u64;
                let (num, den) = v.capacity;
                let scale = match c {
                    None => views::stat::Scale::HOST,
                    Some(_) => views::stat::Scale {
                        share: (num, den.saturating_mul(host_cpus)),
                        host_uptime_cs: clock.host_uptime_cs,
                        start_cs,
                        // Forks of the container's own pid namespace only.
                        last_pid: last_pid.filter(|_| start_cs.is_some()),
                    },
                };
                views::stat::render(
                    &self.host_file(HostFile::Stat),
                    &v,
                    times.as_deref(),
                    procs,
                    &scale,
                    out,
                );
            }
            ViewId::Uptime => {
                let v = self.cpu_view(&snap);
                let clock = self.clock(start_cs);
                views::uptime::render(&clock, v.count(), snap.cpu.usage.as_ref(), out);
            }
            ViewId::Loadavg => match c.and_then(state_key) {
                Some(key) => {
                    let mut l = self.with_state(&key, |s| {
                        s.load.touch();
                        s.load.avg
                    });
                    if l.total == 0 {
                        l.total = snap.pids.map_or(0, |p| p.current);
                    }
                    views::loadavg::render(&l, out);
                }
                None => out.extend_from_slice(&self.host_file(HostFile::Loadavg)),
            },
            ViewId::Diskstats => views::diskstats::render(
                &self.host_file(HostFile::Diskstats),
                snap.io.as_ref(),
                out,
            ),
        }
    }

    /// The container's cgroup parts, shared by its readers for the cache TTL.
    fn snapshot(&self, c: &Container, parts: Parts) -> Arc<CgroupSnapshot> {
        if self.is_starting(c) {
            return Arc::new(read_snapshot(&c.dirs, parts));
        }
        self.snapshots.get_or_load(&(c.dirs.clone(), parts), || {
            Arc::new(read_snapshot(&c.dirs, parts))
        })
    }

    /// What `sysinfo(2)` returns to a process of `c` (the host's for `None`, and for every
    /// field the container has no figure for): the numbers of the meminfo, uptime and loadavg
    /// views, from the same snapshot and state.
    pub fn sysinfo(&self, c: Option<&Container>) -> libc::sysinfo {
        let mut host = host_sysinfo();
        let Some(c) = c else { return host };
        // The meminfo view's own snapshot: busybox `free` takes MemFree from here and Cached
        // from the view, and subtracts both from MemTotal.
        let snap = self.snapshot(c, parts(ViewId::Meminfo));
        let pids = self.snapshot(c, parts(ViewId::Loadavg)).pids;
        let unit = u64::from(host.mem_unit.max(1));
        let base = views::sysinfo::Sysinfo {
            uptime: u64::try_from(host.uptime).unwrap_or(0),
            loads: host.loads.map(widen),
            totalram: widen(host.totalram).saturating_mul(unit),
            freeram: widen(host.freeram).saturating_mul(unit),
            sharedram: widen(host.sharedram).saturating_mul(unit),
            bufferram: widen(host.bufferram).saturating_mul(unit),
            totalswap: widen(host.totalswap).saturating_mul(unit),
            freeswap: widen(host.freeswap).saturating_mul(unit),
            procs: host.procs,
        };
        let meminfo = self.host_file(HostFile::Meminfo);
        let figures = snap.memory.as_ref().and_then(|m| {
            let total = host::meminfo::value(&meminfo, b"MemTotal")?;
            let swap = host::meminfo::value(&meminfo, b"SwapTotal").unwrap_or(0);
            Some(views::meminfo::MemFigures::new(total, swap, m))
        });
        let shmem = snap.memory.as_ref().and_then(|m| m.stat.shmem);
        let start_cs = c.start_ticks.map(|t| Clock::ticks_to_cs(t, self.clk_tck));
        let uptime = start_cs.map(|s| self.clock(Some(s)).container_uptime_cs() / 100);
        let load = state_key(c).map(|key| {
            self.with_state(&key, |s| {
                s.load.touch();
                s.load.avg
            })
        });
        let tasks = pids
            .map(|p| p.current)
            .or(load.map(|l| l.total).filter(|&t| t > 0));
        let s =
            views::sysinfo::compute(base, figures.as_ref(), shmem, uptime, load.as_ref(), tasks);
        host.mem_unit = 1;
        host.uptime = libc::c_long::try_from(s.uptime).unwrap_or(libc::c_long::MAX);
        host.loads = s.loads.map(|l| l as libc::c_ulong);
        host.totalram = s.totalram as libc::c_ulong;
        host.freeram = s.freeram as libc::c_ulong;
        host.sharedram = s.sharedram as libc::c_ulong;
        host.bufferram = s.bufferram as libc::c_ulong;
        host.totalswap = s.totalswap as libc::c_ulong;
        host.freeswap = s.freeswap as libc::c_ulong;
        host.procs = s.procs;
        host.totalhigh = 0;
        host.freehigh = 0;
        host
    }

    /// Whether `c` is still starting ([`STARTING`]): its runtime may not have written its
    /// limits yet (runc writes them after the container's mounts are made, and a bind mount
    /// of a view renders it), so nothing rendered for it now may be reused.
    pub fn is_starting(&self, c: &Container) -> bool {
        let Some(start) = c.start_ticks else {
            return false;
        };
        let start_cs = Clock::ticks_to_cs(start, self.clk_tck);
        let now_cs = self.fixed_uptime_cs.unwrap_or_else(boottime_cs);
        now_cs.saturating_sub(start_cs) < STARTING.as_millis() as u64 / 10
    }

    /// A host file's bytes (empty when unreadable, so each view falls back on its own terms).
    fn host_file(&self, f: HostFile) -> HostBytes {
        self.host_files.get_or_load(&f, || {
            // Sized up front: `read_to_end` on an empty buffer probes with 32-byte reads.
            let mut buf = Vec::with_capacity(8192);
            if let Err(e) = self.host.read_into(f, &mut buf) {
                tracing::debug!(error = %e, "host file unreadable");
                buf.clear();
            }
            Arc::new(buf)
        })
    }

    fn host_online(&self) -> CpuSet {
        CpuSet::parse(&self.host_file(HostFile::CpuOnline)).unwrap_or_default()
    }

    fn cpu_view(&self, snap: &CgroupSnapshot) -> CpuView {
        CpuView::new(&self.host_online(), &snap.cpu)
    }

    fn clock(&self, container_start_cs: Option<u64>) -> Clock {
        Clock {
            host_uptime_cs: self.fixed_uptime_cs.unwrap_or_else(boottime_cs),
            container_start_cs,
            user_hz: 100,
        }
    }

    fn with_state<T>(&self, key: &StateKey, f: impl FnOnce(&mut ContainerState) -> T) -> T {
        let mut map = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= MAX_STATES {
            map.clear();
        }
        f(map.entry(key.clone()).or_default())
    }
}

/// Per-container state follows one cgroup's counters as seen on one clock: a host process and
/// a container init in the same cgroup count time from different starts, so they are apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StateKey {
    version: Version,
    cgroup: PathBuf,
    start_ticks: Option<u64>,
}

fn state_key(c: &Container) -> Option<StateKey> {
    let d = c.dirs.cpuacct.as_ref().or(c.dirs.pids.as_ref())?;
    Some(StateKey {
        version: d.version,
        cgroup: d.dir.clone(),
        start_ticks: c.start_ticks,
    })
}

/// Host uptime from CLOCK_BOOTTIME, in hundredths: no file read, and the clock `/proc/uptime`
/// itself uses.
fn boottime_cs() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| {
            let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
            let cs = u64::try_from(t.tv_nsec()).unwrap_or(0) / 10_000_000;
            secs.saturating_mul(100).saturating_add(cs)
        })
        .unwrap_or(0)
}

/// `c_ulong` is 32 bits on 32-bit targets and `u64` itself on 64-bit ones.
#[allow(clippy::useless_conversion)]
fn widen(v: libc::c_ulong) -> u64 {
    u64::from(v)
}
