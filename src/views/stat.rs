//! Renders `/proc/stat`: an aggregate `cpu ` line and one `cpuN` line per visible CPU (real
//! ids), from the container's CPU usage; every other line from the host, except
//! `procs_running`/`procs_blocked`, which come from the container when known.
//!
//! Per CPU: user and system are the container's time on that CPU plus an even share of time it
//! spent on CPUs it is not shown (v2 gives no per-CPU split, so all of it is shared evenly).
//! Idle is the container's capacity over its lifetime on that CPU minus its busy time: a
//! container using its whole quota shows ~0% idle in `top`, an idle one ~100%. nice, iowait,
//! irq, softirq, steal and guest are 0: the cgroup does not account them. The aggregate line
//! is the sum of the per-CPU lines. Without usage, the host's lines for the visible CPUs are
//! shown. [`StatHistory`] keeps counters from going backwards between reads.

use super::fmt::push_u64;
use super::{Clock, CpuView};
use crate::cgroup::CpuUsage;
use crate::host::{lines, stat};

/// Index of each counter in a CPU line.
const USER: usize = 0;
const SYSTEM: usize = 2;
const IDLE: usize = 3;

/// The ten counters of one CPU line, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Host CPU id.
    pub cpu: usize,
    /// user nice system idle iowait irq softirq steal guest guest_nice.
    pub t: [u64; 10],
}

/// Task counts of a container, from the load sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcCounts {
    /// Runnable tasks.
    pub running: u64,
    /// Tasks in uninterruptible sleep.
    pub blocked: u64,
}

/// Computes the per-CPU counters of the visible CPUs.
pub fn cpu_times(view: &CpuView, usage: &CpuUsage, clock: &Clock) -> Vec<CpuTimes> {
    let ids: Vec<usize> = view.visible.iter().collect();
    let n = ids.len().max(1) as u64;
    let own = |id: usize| {
        usage
            .per_cpu
            .iter()
            .find(|p| p.cpu == id)
            .map_or((0, 0), |p| (p.user_ns, p.system_ns))
    };
    let (own_user, own_sys) = ids.iter().fold((0u64, 0u64), |(u, s), &id| {
        let (ou, os) = own(id);
        (u.saturating_add(ou), s.saturating_add(os))
    });
    let hz = clock.user_hz.max(1);
    // Converted before sharing, so rounding loses at most one tick per CPU, not per share.
    let hidden_user = ns_to_ticks(usage.user_ns.saturating_sub(own_user), hz);
    let hidden_sys = ns_to_ticks(usage.system_ns.saturating_sub(own_sys), hz);
    let elapsed = mul_div(clock.container_uptime_cs(), hz, 100);
    let (num, den) = view.capacity;
    let capacity = mul_div(elapsed, num, den.max(1).saturating_mul(n));
    ids.iter()
        .enumerate()
        .map(|(i, &cpu)| {
            let (ou, os) = own(cpu);
            let user = ns_to_ticks(ou, hz).saturating_add(share(hidden_user, n, i));
            let system = ns_to_ticks(os, hz).saturating_add(share(hidden_sys, n, i));
            let mut t = [0u64; 10];
            t[USER] = user;
            t[SYSTEM] = system;
            t[IDLE] = capacity.saturating_sub(user.saturating_add(system));
            CpuTimes { cpu, t }
        })
        .collect()
}

/// `total / n`, with the remainder going one each to the first CPUs so shares sum to `total`.
fn share(total: u64, n: u64, i: usize) -> u64 {
    total / n + u64::from((i as u64) < total % n)
}

fn ns_to_ticks(ns: u64, hz: u64) -> u64 {
    mul_div(ns, hz, 1_000_000_000)
}

fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    if c == 0 {
        return 0;
    }
    u64::try_from(u128::from(a) * u128::from(b) / u128::from(c)).unwrap_or(u64::MAX)
}

/// The last counters shown to one container, so the next read never shows less.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatHistory {
    last: Vec<CpuTimes>,
}

impl StatHistory {
    /// Raises each counter to at least its last shown value, then remembers the result.
    pub fn apply(&mut self, times: &mut [CpuTimes]) {
        for cur in times.iter_mut() {
            if let Some(prev) = self.last.iter().find(|p| p.cpu == cur.cpu) {
                for (c, p) in cur.t.iter_mut().zip(prev.t) {
                    *c = (*c).max(p);
                }
            }
        }
        self.last.clear();
        self.last.extend_from_slice(times);
    }
}

/// Renders the container's stat into `out`. `times` are the visible CPUs' counters, or `None`
/// to show the host's lines for the visible CPUs.
pub fn render(
    host: &[u8],
    view: &CpuView,
    times: Option<&[CpuTimes]>,
    procs: Option<ProcCounts>,
    out: &mut Vec<u8>,
) {
    let host_times;
    let times = match times {
        Some(t) => t,
        None => {
            host_times = host_cpu_times(host, view);
            &host_times
        }
    };
    for line in lines(host) {
        match stat::cpu_line(line) {
            Some(stat::CpuLine::All) => {
                let mut sum = [0u64; 10];
                for t in times {
                    for (s, v) in sum.iter_mut().zip(t.t) {
                        *s = s.saturating_add(v);
                    }
                }
                out.extend_from_slice(b"cpu ");
                push_counters(out, &sum);
                for t in times {
                    out.extend_from_slice(b"cpu");
                    push_u64(out, t.cpu as u64);
                    push_counters(out, &t.t);
                }
            }
            // Emitted with the aggregate line, in the host's position.
            Some(stat::CpuLine::Cpu(_)) => {}
            None => match (procs, field_name(line)) {
                (Some(p), b"procs_running") => push_named(out, b"procs_running", p.running),
                (Some(p), b"procs_blocked") => push_named(out, b"procs_blocked", p.blocked),
                _ => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            },
        }
    }
}

fn host_cpu_times(host: &[u8], view: &CpuView) -> Vec<CpuTimes> {
    lines(host)
        .filter_map(|line| match stat::cpu_line(line) {
            Some(stat::CpuLine::Cpu(cpu)) if view.visible.contains(cpu) => Some(CpuTimes {
                cpu,
                t: stat::counters(line),
            }),
            _ => None,
        })
        .collect()
}

fn field_name(line: &[u8]) -> &[u8] {
    line.split(|&b| b == b' ').next().unwrap_or_default()
}

fn push_counters(out: &mut Vec<u8>, t: &[u64; 10]) {
    for v in t {
        out.push(b' ');
        push_u64(out, *v);
    }
    out.push(b'\n');
}

fn push_named(out: &mut Vec<u8>, name: &[u8], v: u64) {
    out.extend_from_slice(name);
    out.push(b' ');
    push_u64(out, v);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::{CpuSet, PerCpuUsage};

    const HOST: &[u8] = b"cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 60 0 30 500 0 0 0 0 0 0\ncpu1 40 0 20 500 0 0 0 0 0 0\nintr 1 2\nctxt 5\nbtime 17\nprocs_running 3\nprocs_blocked 0\n";

    fn view(vis: &str, cap: (u64, u64)) -> CpuView {
        CpuView {
            visible: CpuSet::parse(vis.as_bytes()).unwrap(),
            capacity: cap,
        }
    }

    fn clock(up_cs: u64) -> Clock {
        Clock {
            host_uptime_cs: up_cs,
            container_start_cs: Some(0),
            user_hz: 100,
        }
    }

    #[test]
    fn half_cpu_container_on_cpu1() {
        let v = view("1", (50_000, 100_000));
        // 10 s old, used 2 s user + 1 s system, some of it on hidden CPU 0.
        let usage = CpuUsage {
            user_ns: 2_000_000_000,
            system_ns: 1_000_000_000,
            per_cpu: vec![
                PerCpuUsage {
                    cpu: 0,
                    user_ns: 500_000_000,
                    system_ns: 0,
                },
                PerCpuUsage {
                    cpu: 1,
                    user_ns: 1_500_000_000,
                    system_ns: 1_000_000_000,
                },
            ],
        };
        let times = cpu_times(&v, &usage, &clock(1000));
        assert_eq!(
            times,
            vec![CpuTimes {
                cpu: 1,
                t: [200, 0, 100, 200, 0, 0, 0, 0, 0, 0]
            }]
        );
        let mut out = Vec::new();
        render(
            HOST,
            &v,
            Some(&times),
            Some(ProcCounts {
                running: 1,
                blocked: 0,
            }),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cpu  200 0 100 200 0 0 0 0 0 0\ncpu1 200 0 100 200 0 0 0 0 0 0\nintr 1 2\nctxt 5\nbtime 17\nprocs_running 1\nprocs_blocked 0\n"
        );
    }

    #[test]
    fn v2_usage_is_split_evenly_and_sums() {
        let v = view("0-1", (2, 1));
        let usage = CpuUsage {
            user_ns: 30_000_000,
            system_ns: 10_000_000,
            per_cpu: vec![],
        };
        let t = cpu_times(&v, &usage, &clock(100));
        assert_eq!(t[0].t[USER] + t[1].t[USER], 3);
        assert_eq!(t[0].t[IDLE], 100 - t[0].t[USER] - t[0].t[SYSTEM]);
    }

    #[test]
    fn fallback_and_history() {
        let v = view("1", (1, 1));
        let mut out = Vec::new();
        render(HOST, &v, None, None, &mut out);
        assert!(out.starts_with(b"cpu  40 0 20 500 0 0 0 0 0 0\ncpu1 40 0 20 500"));
        assert!(String::from_utf8_lossy(&out).contains("procs_running 3\n"));
        let mut h = StatHistory::default();
        let mut first = [CpuTimes {
            cpu: 1,
            t: [5, 0, 5, 90, 0, 0, 0, 0, 0, 0],
        }];
        h.apply(&mut first);
        let mut second = [CpuTimes {
            cpu: 1,
            t: [6, 0, 5, 80, 0, 0, 0, 0, 0, 0],
        }];
        h.apply(&mut second);
        assert_eq!(second[0].t[IDLE], 90);
        assert_eq!(second[0].t[USER], 6);
    }
}
