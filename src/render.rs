//! Renders one view for one caller: resolves the caller to its container, reads the host files
//! and the cgroup parts that view needs (each once), and calls the view's pure renderer.
//!
//! This is the only place that joins `cgroup/`, `host/` and `views/`; the FUSE layer and the
//! CLI both call it. A caller whose container cannot be resolved gets the host's view.

use crate::cgroup::resolve::{Container, Resolver};
use crate::cgroup::{read_snapshot, CgroupSnapshot, CpuSet, Parts};
use crate::host::{self, HostFile, HostRoots};
use crate::views::{self, loadavg::LoadAvg, stat::StatHistory, Clock, CpuView};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// The virtual files vproc serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewId {
    /// `proc/meminfo`
    Meminfo,
    /// `proc/cpuinfo`
    Cpuinfo,
    /// `proc/stat`
    Stat,
    /// `proc/uptime`
    Uptime,
    /// `proc/loadavg`
    Loadavg,
    /// `proc/swaps`
    Swaps,
    /// `proc/diskstats`
    Diskstats,
    /// `sys/devices/system/cpu/online`
    CpuOnline,
}

impl ViewId {
    /// Every view, in the order directories list them.
    pub const ALL: [ViewId; 8] = [
        ViewId::Meminfo,
        ViewId::Cpuinfo,
        ViewId::Stat,
        ViewId::Uptime,
        ViewId::Loadavg,
        ViewId::Swaps,
        ViewId::Diskstats,
        ViewId::CpuOnline,
    ];

    /// Path under the mountpoint.
    pub fn path(self) -> &'static str {
        match self {
            ViewId::Meminfo => "proc/meminfo",
            ViewId::Cpuinfo => "proc/cpuinfo",
            ViewId::Stat => "proc/stat",
            ViewId::Uptime => "proc/uptime",
            ViewId::Loadavg => "proc/loadavg",
            ViewId::Swaps => "proc/swaps",
            ViewId::Diskstats => "proc/diskstats",
            ViewId::CpuOnline => "sys/devices/system/cpu/online",
        }
    }

    /// The file name (last path component).
    pub fn name(self) -> &'static str {
        self.path().rsplit('/').next().unwrap_or_default()
    }

    /// Finds a view by file name (`meminfo`, `online`) or path (`proc/meminfo`).
    pub fn from_name(s: &str) -> Option<ViewId> {
        let s = s.trim_start_matches('/');
        Self::ALL
            .into_iter()
            .find(|v| v.path() == s || v.name() == s)
    }

    fn parts(self) -> Parts {
        let none = Parts::default();
        match self {
            ViewId::Meminfo | ViewId::Swaps => Parts {
                memory: true,
                ..none
            },
            ViewId::Cpuinfo | ViewId::CpuOnline => Parts {
                cpu_limits: true,
                ..none
            },
            ViewId::Stat | ViewId::Uptime => Parts {
                cpu_limits: true,
                cpu_usage: true,
                ..none
            },
            ViewId::Loadavg => Parts { pids: true, ..none },
            ViewId::Diskstats => Parts { io: true, ..none },
        }
    }
}

/// Whether a read was answered for a container or with the host's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The caller's container was resolved.
    Container,
    /// It was not (the caller exited, or is invisible): host values were served.
    HostFallback,
}

/// Per-container state that outlives one read.
#[derive(Debug, Default)]
struct ContainerState {
    stat: StatHistory,
    load: LoadAvg,
}

/// Most containers whose state is kept; beyond it the map is cleared (state rebuilds itself).
const MAX_STATES: usize = 16384;

/// Renders views for callers.
#[derive(Debug)]
pub struct Renderer {
    resolver: Resolver,
    host: HostRoots,
    clk_tck: u64,
    fixed_uptime_cs: Option<u64>,
    states: Mutex<HashMap<StateKey, ContainerState>>,
}

thread_local! {
    /// Host file bytes, reused across reads on one thread.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = RefCell::new((Vec::with_capacity(8192), Vec::with_capacity(4096)));
}

impl Renderer {
    /// A renderer reading host files under `host` and containers through `resolver`.
    pub fn new(resolver: Resolver, host: HostRoots) -> Self {
        // USER_HZ is 100 on every Linux; it is only a fallback if sysconf fails.
        let clk_tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v > 0)
            .unwrap_or(100);
        Self {
            resolver,
            host,
            clk_tck,
            fixed_uptime_cs: None,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Uses a fixed host uptime instead of the clock, so fixture tests are reproducible.
    pub fn with_fixed_uptime(mut self, uptime_cs: u64, clk_tck: u64) -> Self {
        self.fixed_uptime_cs = Some(uptime_cs);
        self.clk_tck = clk_tck;
        self
    }

    /// The resolver.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Renders `view` for the process `pid` into `out` (appended).
    pub fn render(&self, view: ViewId, pid: u32, out: &mut Vec<u8>) -> Served {
        match self.resolver.resolve(pid) {
            Ok(c) => {
                self.render_for(view, Some(&c), out);
                Served::Container
            }
            Err(e) => {
                tracing::debug!(pid, error = %e, "caller not resolved, host view served");
                self.render_for(view, None, out);
                Served::HostFallback
            }
        }
    }

    /// Renders `view` for a resolved container, or the host's view for `None`.
    pub fn render_for(&self, view: ViewId, c: Option<&Container>, out: &mut Vec<u8>) {
        let snap = match c {
            Some(c) => read_snapshot(&c.dirs, view.parts()),
            None => CgroupSnapshot::default(),
        };
        let start_cs = c
            .and_then(|c| c.start_ticks)
            .map(|t| Clock::ticks_to_cs(t, self.clk_tck));
        SCRATCH.with(|s| {
            let (a, b) = &mut *s.borrow_mut();
            self.render_with(view, c, &snap, start_cs, a, b, out);
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn render_with(
        &self,
        view: ViewId,
        c: Option<&Container>,
        snap: &CgroupSnapshot,
        start_cs: Option<u64>,
        a: &mut Vec<u8>,
        b: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) {
        let read = |f: HostFile, buf: &mut Vec<u8>| {
            if let Err(e) = self.host.read_into(f, buf) {
                tracing::debug!(error = %e, "host file unreadable");
                buf.clear();
            }
        };
        let cpu_view = |buf: &mut Vec<u8>| -> CpuView {
            read(HostFile::CpuOnline, buf);
            let online = CpuSet::parse(buf).unwrap_or_default();
            CpuView::new(&online, &snap.cpu)
        };
        match view {
            ViewId::Meminfo => {
                read(HostFile::Meminfo, a);
                views::meminfo::render(a, snap.memory.as_ref(), out);
            }
            ViewId::Swaps => {
                read(HostFile::Meminfo, a);
                read(HostFile::Swaps, b);
                let figures = snap.memory.as_ref().and_then(|m| {
                    let total = host::meminfo::value(a, b"MemTotal")?;
                    let swap = host::meminfo::value(a, b"SwapTotal").unwrap_or(0);
                    Some(views::meminfo::MemFigures::new(total, swap, m))
                });
                views::swaps::render(b, figures.as_ref(), out);
            }
            ViewId::Cpuinfo => {
                let v = cpu_view(b);
                read(HostFile::Cpuinfo, a);
                views::cpuinfo::render(a, &v.visible, out);
            }
            ViewId::CpuOnline => views::online::render(&cpu_view(b).visible, out),
            ViewId::Stat => {
                let v = cpu_view(b);
                read(HostFile::Stat, a);
                let clock = self.clock(start_cs);
                let times = snap.cpu.usage.as_ref().map(|u| {
                    let mut t = views::stat::cpu_times(&v, u, &clock);
                    if let Some(key) = c.and_then(state_key) {
                        self.with_state(&key, |s| s.stat.apply(&mut t));
                    }
                    t
                });
                views::stat::render(a, &v, times.as_deref(), None, out);
            }
            ViewId::Uptime => {
                let v = cpu_view(b);
                let clock = self.clock(start_cs);
                views::uptime::render(&clock, v.count(), snap.cpu.usage.as_ref(), out);
            }
            ViewId::Loadavg => match c.and_then(state_key) {
                Some(key) => {
                    let mut l = self.with_state(&key, |s| s.load);
                    if l.total == 0 {
                        l.total = snap.pids.map_or(0, |p| p.current);
                    }
                    views::loadavg::render(&l, out);
                }
                None => {
                    read(HostFile::Loadavg, a);
                    out.extend_from_slice(a);
                }
            },
            ViewId::Diskstats => {
                read(HostFile::Diskstats, a);
                views::diskstats::render(a, snap.io.as_ref(), out);
            }
        }
    }

    fn clock(&self, container_start_cs: Option<u64>) -> Clock {
        let now = self.fixed_uptime_cs.unwrap_or_else(boottime_cs);
        Clock {
            host: host::uptime::Uptime {
                uptime_cs: now,
                idle_cs: 0,
            },
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

    /// Sets the load state of a container (the load sampler).
    pub fn set_load(&self, c: &Container, load: LoadAvg) {
        if let Some(key) = state_key(c) {
            self.with_state(&key, |s| s.load = load);
        }
    }
}

/// Per-container state follows one cgroup's counters as seen on one clock: a host process and
/// a container init in the same cgroup count time from different starts, so they are apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StateKey {
    cgroup: PathBuf,
    start_ticks: Option<u64>,
}

fn state_key(c: &Container) -> Option<StateKey> {
    let d = c.dirs.cpuacct.as_ref().or(c.dirs.pids.as_ref())?;
    Some(StateKey {
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
