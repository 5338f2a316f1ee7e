//! What the daemon counts as it serves, for `vproc status` and `/metrics`: plain atomics, so
//! counting costs a request no lock and no allocation.

use crate::views::ViewId;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Counters a test or an operator can read.
#[derive(Debug, Default)]
pub struct Stats {
    /// Renderings with host values because the container could not be found (a per-reader
    /// open by an unresolved reader, or a container whose init is gone).
    pub host_fallbacks: AtomicU64,
    /// Opens of views that reached vproc (per-container files opened without a round trip are
    /// not counted).
    pub opens: AtomicU64,
    /// Per-container files that a process of another container opened.
    pub foreign_opens: AtomicU64,
    /// Readers that could not be resolved, by [`Unresolved`] reason.
    pub unresolved: [AtomicU64; Unresolved::ALL.len()],
    /// Read requests that reached vproc, by view (reads the page cache answered never do).
    pub reads: [AtomicU64; ViewId::ALL.len()],
    /// Renderings, by view, with how long they took.
    pub renders: [Latency; ViewId::ALL.len()],
    /// When an unresolved reader was last logged (seconds on the monotonic clock).
    last_unresolved_warn: AtomicU64,
}

/// Upper bounds of the latency buckets, in microseconds (the last bucket is unbounded).
pub const LATENCY_BOUNDS_US: [u64; 14] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 100_000,
];

/// A latency histogram: per-bucket counts (not cumulative) and the sum.
#[derive(Debug, Default)]
pub struct Latency {
    /// Counts per bucket of [`LATENCY_BOUNDS_US`], then the unbounded one.
    pub buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    /// The sum of every observation, in nanoseconds.
    pub sum_ns: AtomicU64,
}

impl Latency {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BOUNDS_US
            .iter()
            .position(|&b| ns <= b * 1000)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// The smallest bucket bound (µs) under which at least `q` of the observations fall
    /// (`None` without observations, `u64::MAX` for the unbounded bucket).
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(LATENCY_BOUNDS_US.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }
}

/// Why a reader could not be resolved to its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    /// It exited before vproc looked (its `/proc/<pid>` was gone).
    Exited,
    /// vproc cannot see it: the kernel gave pid 0 (a pid namespace vproc is not an ancestor of).
    Invisible,
    /// Its `/proc` or cgroup files could not be read or parsed.
    Unreadable,
}

impl Unresolved {
    /// Every reason, in counter order.
    pub const ALL: [Unresolved; 3] = [
        Unresolved::Exited,
        Unresolved::Invisible,
        Unresolved::Unreadable,
    ];

    /// Its name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Unresolved::Exited => "exited",
            Unresolved::Invisible => "invisible",
            Unresolved::Unreadable => "unreadable",
        }
    }

    /// The reason for a resolution error of reader `pid`.
    pub fn of(pid: u32, e: &crate::cgroup::Error) -> Unresolved {
        if pid == 0 {
            Unresolved::Invisible
        } else if e.is_gone() {
            Unresolved::Exited
        } else {
            Unresolved::Unreadable
        }
    }
}

impl Stats {
    /// Counts a read request of `view`.
    pub fn read(&self, view: ViewId) {
        self.reads[view.index()].fetch_add(1, Relaxed);
    }

    /// Counts a rendering of `view` that took `took`.
    pub fn rendered(&self, view: ViewId, took: Duration) {
        self.renders[view.index()].observe(took);
    }

    /// Counts an unresolved reader, and says so at warn level at most once per 10 s (with how
    /// many there were meanwhile): readers that exit as they read are normal, a stream of
    /// invisible or unreadable ones is a deployment problem.
    pub fn unresolved(&self, reason: Unresolved, pid: u32, error: &dyn std::error::Error) {
        let i = Unresolved::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.unresolved[i].fetch_add(1, Relaxed);
        let now = monotonic_secs();
        let last = self.last_unresolved_warn.load(Relaxed);
        if reason != Unresolved::Exited
            && now >= last + 10
            && self
                .last_unresolved_warn
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
        {
            let counts: Vec<String> = Unresolved::ALL
                .iter()
                .zip(&self.unresolved)
                .map(|(r, c)| format!("{}={}", r.name(), c.load(Relaxed)))
                .collect();
            tracing::warn!(
                pid,
                reason = reason.name(),
                error = %crate::kernel::error_chain(error),
                totals = %counts.join(" "),
                "a reader could not be resolved to its container; it gets host values"
            );
        } else {
            tracing::debug!(pid, reason = reason.name(), error = %error, "reader not resolved");
        }
    }
}

fn monotonic_secs() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| u64::try_from(t.tv_sec()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_and_quantiles() {
        let l = Latency::default();
        assert_eq!(l.quantile_bound_us(0.5), None);
        for us in [1, 3, 3, 40, 40_000_000] {
            l.observe(Duration::from_micros(us));
        }
        assert_eq!(l.count(), 5);
        assert_eq!(l.buckets[0].load(Relaxed), 1);
        assert_eq!(l.buckets[2].load(Relaxed), 2);
        assert_eq!(l.buckets[5].load(Relaxed), 1);
        assert_eq!(l.buckets[LATENCY_BOUNDS_US.len()].load(Relaxed), 1);
        assert_eq!(l.quantile_bound_us(0.5), Some(5));
        assert_eq!(l.quantile_bound_us(0.8), Some(50));
        assert_eq!(l.quantile_bound_us(1.0), Some(u64::MAX));
        assert_eq!(l.sum_ns.load(Relaxed), 40_000_047_000);
    }
}
