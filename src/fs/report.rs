//! What `vproc status` shows and `/metrics` exports: one worker's counters, the containers it
//! rendered for recently (with their cgroup and limits, read when asked, never on the read
//! path), and the daemon's history from the supervisor's status file.
//!
//! Reads that the kernel's page cache answers never reach vproc, so per-container numbers are
//! renderings (at most one per file per cache TTL), not reads.

use super::content::FileSummary;
use super::ops::TreeOps;
use super::registry::Registry;
use super::stats::{Stats, LATENCY_BOUNDS_US};
use super::supervisor::status::{unix_now, Status};
use super::tree::Node;
use super::Unresolved;
use crate::cgroup::read_snapshot;
use crate::cgroup::snapshot::Parts;
use crate::compose::Composer;
use crate::views::ViewId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Containers rendered for within this long are listed.
pub const RECENT: Duration = Duration::from_secs(300);

/// Everything a report is made from: one worker's parts.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The worker's counters.
    pub stats: Arc<Stats>,
    /// Both trees' operations (their renderings).
    pub trees: Vec<Arc<TreeOps>>,
    /// The container slots.
    pub registry: Arc<Registry>,
    /// Resolution and cgroup reading.
    pub composer: Arc<Composer>,
    /// The mountpoint served.
    pub mountpoint: PathBuf,
    /// This worker's generation.
    pub generation: u64,
    /// When this worker started (seconds since the epoch).
    pub worker_started: u64,
}

/// The daemon as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Daemon {
    /// vproc's version.
    pub version: String,
    /// The mountpoint.
    pub mountpoint: String,
    /// The supervisor's pid (0 when no supervisor recorded one: an in-process server).
    pub supervisor_pid: i32,
    /// The worker's pid.
    pub worker_pid: u32,
    /// Workers started so far (1 for the first).
    pub generation: u64,
    /// When the daemon started, in seconds since the epoch.
    pub started: u64,
    /// When this worker started.
    pub worker_started: u64,
    /// Workers restarted after one died.
    pub crashes: u64,
    /// Upgrades the daemon went through without unmounting.
    pub upgrades: u64,
    /// Service restarts it went through, its connections kept in systemd's fd store.
    pub restarts: u64,
}

/// Counters of this worker (since it started).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Opens that reached vproc.
    pub opens: u64,
    /// A container's own file opened by a process of another container.
    pub foreign_opens: u64,
    /// Renderings with host values because the container was not found.
    pub host_fallbacks: u64,
    /// Readers not resolved to a container, by reason.
    pub unresolved: BTreeMap<String, u64>,
}

/// One view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewReport {
    /// Its path under the mountpoint.
    pub view: String,
    /// Read requests that reached vproc.
    pub reads: u64,
    /// Renderings.
    pub renders: u64,
    /// Bucket bound (µs) under which half the renderings finished.
    pub render_p50_us: Option<u64>,
    /// Bucket bound (µs) under which 99 % finished.
    pub render_p99_us: Option<u64>,
}

/// One container vproc rendered for recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerReport {
    /// How vproc knows it: `init PID` (its pid namespace's init) or `cgroup PATH`.
    pub id: String,
    /// Its memory cgroup (else its first cgroup), relative to the hierarchy; `None` once gone.
    pub cgroup: Option<String>,
    /// Its memory limit in bytes (`None`: unlimited or gone).
    pub memory_limit_bytes: Option<u64>,
    /// Its CPU limit in CPUs (quota / period).
    pub cpu_limit: Option<f64>,
    /// How many CPUs its cpuset allows.
    pub cpuset_cpus: Option<usize>,
    /// Its pids limit.
    pub pids_limit: Option<u64>,
    /// Renderings of its files (each serves every read within the cache TTL).
    pub renders: u64,
    /// Seconds since the last one.
    pub last_render_s: f64,
    /// The views rendered for it.
    pub views: Vec<String>,
}

/// What `GET /status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The daemon.
    pub daemon: Daemon,
    /// This worker's counters.
    pub counters: Counters,
    /// Per view.
    pub views: Vec<ViewReport>,
    /// Containers rendered for within [`RECENT`], most recent first.
    pub containers: Vec<ContainerReport>,
}

impl Sources {
    fn daemon(&self) -> Daemon {
        let st = Status::read(&self.mountpoint);
        Daemon {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mountpoint: self.mountpoint.display().to_string(),
            supervisor_pid: st.map_or(0, |s| s.supervisor),
            worker_pid: std::process::id(),
            generation: self.generation,
            started: st.map_or(self.worker_started, |s| s.started),
            worker_started: self.worker_started,
            crashes: st.map_or(0, |s| s.crashes),
            upgrades: st.map_or(0, |s| s.upgrades),
            restarts: st.map_or(0, |s| s.restarts),
        }
    }

    fn counters(&self) -> Counters {
        let s = &self.stats;
        Counters {
            opens: s.opens.load(Relaxed),
            foreign_opens: s.foreign_opens.load(Relaxed),
            host_fallbacks: s.host_fallbacks.load(Relaxed),
            unresolved: Unresolved::ALL
                .iter()
                .zip(&s.unresolved)
                .map(|(r, c)| (r.name().to_owned(), c.load(Relaxed)))
                .collect(),
        }
    }

    fn views(&self) -> Vec<ViewReport> {
        ViewId::ALL
            .iter()
            .map(|v| {
                let r = &self.stats.renders[v.index()];
                ViewReport {
                    view: v.path().to_owned(),
                    reads: self.stats.reads[v.index()].load(Relaxed),
                    renders: r.count(),
                    render_p50_us: r.quantile_bound_us(0.5),
                    render_p99_us: r.quantile_bound_us(0.99),
                }
            })
            .collect()
    }

    /// Recent renderings grouped by container.
    fn containers(&self) -> Vec<ContainerReport> {
        let files: Vec<FileSummary> = self
            .trees
            .iter()
            .flat_map(|t| t.content_summary(RECENT))
            .collect();
        let mut by_id: BTreeMap<String, (crate::cgroup::resolve::ContainerId, Vec<FileSummary>)> =
            BTreeMap::new();
        for f in files {
            let Some(Node::ContainerView { slot, .. }) = Node::from_ino(f.ino) else {
                continue;
            };
            let Some(id) = self.registry.container(slot) else {
                continue;
            };
            by_id
                .entry(id.to_string())
                .or_insert_with(|| (id, Vec::new()))
                .1
                .push(f);
        }
        let mut out: Vec<ContainerReport> = by_id
            .into_iter()
            .map(|(name, (id, files))| self.container(name, &id, &files))
            .collect();
        out.sort_by(|a, b| a.last_render_s.total_cmp(&b.last_render_s));
        out
    }

    fn container(
        &self,
        name: String,
        id: &crate::cgroup::resolve::ContainerId,
        files: &[FileSummary],
    ) -> ContainerReport {
        let mut views: Vec<String> = files
            .iter()
            .filter_map(|f| match Node::from_ino(f.ino) {
                Some(Node::ContainerView { view, .. }) => Some(view.path().to_owned()),
                _ => None,
            })
            .collect();
        views.sort();
        views.dedup();
        let mut report = ContainerReport {
            id: name,
            cgroup: None,
            memory_limit_bytes: None,
            cpu_limit: None,
            cpuset_cpus: None,
            pids_limit: None,
            renders: files.iter().map(|f| f.renders).sum(),
            last_render_s: files
                .iter()
                .map(|f| f.age.as_secs_f64())
                .fold(f64::INFINITY, f64::min),
            views,
        };
        let Ok(c) = self.composer.resolver().container(id) else {
            return report;
        };
        let d = &c.dirs;
        report.cgroup = [&d.memory, &d.cpu, &d.pids, &d.cpuset]
            .into_iter()
            .flatten()
            .next()
            .map(|dir| {
                let rel = dir.dir.strip_prefix(&dir.top).unwrap_or(&dir.dir);
                format!("/{}", rel.display())
            });
        let snap = read_snapshot(
            d,
            Parts {
                memory: true,
                cpu_limits: true,
                pids: true,
                ..Parts::default()
            },
        );
        report.memory_limit_bytes = snap.memory.and_then(|m| m.limit);
        report.cpu_limit = snap
            .cpu
            .quota
            .map(|q| q.quota_us as f64 / q.period_us.max(1) as f64);
        report.cpuset_cpus = snap.cpu.cpuset.map(|s| s.len());
        report.pids_limit = snap.pids.and_then(|p| p.limit);
        report
    }

    /// The whole report.
    pub fn report(&self) -> Report {
        Report {
            daemon: self.daemon(),
            counters: self.counters(),
            views: self.views(),
            containers: self.containers(),
        }
    }

    /// The metrics in Prometheus' text format (0.0.4).
    pub fn metrics(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::with_prefix("vproc");
        registry.register_collector(Box::new(Collector(self.clone())));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

/// Exports a [`Sources`] on each scrape.
#[derive(Debug)]
struct Collector(Sources);

impl prometheus_client::collector::Collector for Collector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        use prometheus_client::metrics::MetricType::{Counter, Gauge, Histogram};
        let src = &self.0;
        let s = &src.stats;
        let daemon = src.daemon();

        let mut info = enc.encode_descriptor("build", "vproc's version", None, Gauge)?;
        let labels = [("version", daemon.version.as_str())];
        ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;

        for (name, help, value) in [
            (
                "start_time_seconds",
                "When the daemon started (seconds since the epoch)",
                daemon.started,
            ),
            (
                "worker_start_time_seconds",
                "When the serving worker started",
                daemon.worker_started,
            ),
            (
                "worker_generation",
                "Workers started so far (1 for the first)",
                daemon.generation,
            ),
            (
                "container_slots",
                "Containers the mount has node ids for",
                src.registry.slots().len() as u64,
            ),
        ] {
            let m = enc.encode_descriptor(name, help, None, Gauge)?;
            ConstGauge::new(value as i64).encode(m)?;
        }
        let served = enc.encode_descriptor(
            "containers_served",
            "Containers rendered for in the last 5 minutes",
            None,
            Gauge,
        )?;
        ConstGauge::new(src.containers().len() as i64).encode(served)?;

        let mut restarts = enc.encode_descriptor(
            "worker_restarts",
            "Workers replaced, by reason (crash: one died; upgrade: a new binary took over; restart: the service restarted, its connections kept by systemd)",
            None,
            Counter,
        )?;
        for (reason, n) in [
            ("crash", daemon.crashes),
            ("upgrade", daemon.upgrades),
            ("restart", daemon.restarts),
        ] {
            ConstCounter::new(n).encode(restarts.encode_family(&[("reason", reason)])?)?;
        }

        for (name, help, value) in [
            (
                "opens",
                "Opens of views that reached vproc (this worker)",
                &s.opens,
            ),
            (
                "foreign_opens",
                "A container's own file opened by a process of another container",
                &s.foreign_opens,
            ),
            (
                "host_fallbacks",
                "Renderings with host values because the reader's container was not found",
                &s.host_fallbacks,
            ),
        ] {
            let m = enc.encode_descriptor(name, help, None, Counter)?;
            ConstCounter::new(value.load(Relaxed)).encode(m)?;
        }
        let mut unresolved = enc.encode_descriptor(
            "unresolved_readers",
            "Readers not resolved to a container (they get host values), by reason",
            None,
            Counter,
        )?;
        for (r, c) in Unresolved::ALL.iter().zip(&s.unresolved) {
            ConstCounter::new(c.load(Relaxed))
                .encode(unresolved.encode_family(&[("reason", r.name())])?)?;
        }

        let mut reads = enc.encode_descriptor(
            "reads",
            "Read requests that reached vproc, by view (page-cache hits never do)",
            None,
            Counter,
        )?;
        for v in ViewId::ALL {
            ConstCounter::new(s.reads[v.index()].load(Relaxed))
                .encode(reads.encode_family(&[("view", v.path())])?)?;
        }
        let mut renders = enc.encode_descriptor(
            "render_duration_seconds",
            "How long renderings took, by view",
            None,
            Histogram,
        )?;
        for v in ViewId::ALL {
            let h = &s.renders[v.index()];
            let mut buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_US
                .iter()
                .zip(&h.buckets)
                .map(|(&b, c)| (b as f64 / 1e6, c.load(Relaxed)))
                .collect();
            buckets.push((
                f64::INFINITY,
                h.buckets[LATENCY_BOUNDS_US.len()].load(Relaxed),
            ));
            let count = buckets.iter().map(|b| b.1).sum();
            let sum = h.sum_ns.load(Relaxed) as f64 / 1e9;
            renders
                .encode_family(&[("view", v.path())])?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &buckets, None,
                )?;
        }
        Ok(())
    }
}

/// Seconds since a unix time, for display.
pub fn since(t: u64) -> u64 {
    unix_now().saturating_sub(t)
}
