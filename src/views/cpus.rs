//! Which CPUs a container is shown, and how much CPU it has.
//!
//! Visible CPUs are the first N of the effective cpuset (host online CPUs when there is no
//! cpuset), where N = min(cpuset size, ceil(quota / period)). They keep their real host ids in
//! every view (cpuinfo, stat, online) so that pinning a thread to an advertised CPU works.

use crate::cgroup::{CpuSet, CpuSnapshot};

/// The CPUs a container is shown and its CPU capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuView {
    /// Visible CPU ids (host ids), never empty.
    pub visible: CpuSet,
    /// Capacity in CPUs as a fraction `num / den`: the quota when one is set (at most the
    /// visible count), else the visible count.
    pub capacity: (u64, u64),
}

impl CpuView {
    /// Computes the view from the host's online CPUs and the container's limits.
    ///
    /// Fallbacks: no cpuset, or a cpuset that shares no CPU with the host's online list (a
    /// stale or foreign cgroup), means the host's online CPUs. If the host list itself is empty
    /// (unreadable), CPU 0 alone is shown, as the kernel always has it.
    pub fn new(host_online: &CpuSet, cpu: &CpuSnapshot) -> Self {
        let host = if host_online.is_empty() {
            CpuSet::parse(b"0").unwrap_or_default()
        } else {
            host_online.clone()
        };
        let base = match &cpu.cpuset {
            Some(set) => {
                let both = set.intersection(&host);
                if both.is_empty() {
                    host
                } else {
                    both
                }
            }
            None => host,
        };
        let mut n = base.len() as u64;
        let mut capacity = (n, 1);
        if let Some(q) = cpu.quota {
            n = n.min(q.cpus_ceil());
            // The quota may allow less than the CPUs shown (0.5 of one CPU), never more.
            capacity = if u128::from(q.quota_us) < u128::from(n) * u128::from(q.period_us) {
                (q.quota_us, q.period_us)
            } else {
                (n, 1)
            };
        }
        let visible = base.first(n as usize);
        Self { visible, capacity }
    }

    /// Number of visible CPUs.
    pub fn count(&self) -> u64 {
        self.visible.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CpuQuota;

    fn set(s: &str) -> CpuSet {
        CpuSet::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn quota_limits_count() {
        let host = set("0-7");
        let cpu = CpuSnapshot {
            quota: CpuQuota::new(150_000, 100_000),
            cpuset: Some(set("2-5")),
            usage: None,
        };
        let v = CpuView::new(&host, &cpu);
        assert_eq!(v.visible.to_list(), "2-3");
        assert_eq!(v.capacity, (150_000, 100_000));
    }

    #[test]
    fn half_cpu_and_fallbacks() {
        let host = set("0-1");
        let half = CpuSnapshot {
            quota: CpuQuota::new(50_000, 100_000),
            ..CpuSnapshot::default()
        };
        let v = CpuView::new(&host, &half);
        assert_eq!(
            (v.visible.to_list(), v.capacity),
            ("0".into(), (50_000, 100_000))
        );
        let foreign = CpuSnapshot {
            cpuset: Some(set("9")),
            ..CpuSnapshot::default()
        };
        assert_eq!(CpuView::new(&host, &foreign).visible.to_list(), "0-1");
        assert_eq!(
            CpuView::new(&CpuSet::new(), &foreign).visible.to_list(),
            "0"
        );
        let big = CpuSnapshot {
            quota: CpuQuota::new(800_000, 100_000),
            ..CpuSnapshot::default()
        };
        assert_eq!(CpuView::new(&host, &big).capacity, (2, 1));
    }
}
