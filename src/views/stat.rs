//! Renders `/proc/stat`: an aggregate `cpu ` line and one `cpuN` line per visible CPU (real
//! ids), from the container's CPU usage; `procs_running`/`procs_blocked` from the container's
//! tasks when known; `btime` moved to the container's start, so that `btime + uptime` is now;
//! `processes` the forks of the container's pid namespace (its last pid) when known. The
//! kernel keeps no per-cgroup count of interrupts, context switches or softirqs, so `intr`,
//! `ctxt`, `softirq` (and `processes` otherwise) are the host's, scaled: by the container's
//! share of the host's CPUs (its capacity over the host's online CPUs), and by the part of
//! the host's uptime the container has lived. Rates from them (`vmstat`'s first row: count
//! over uptime) are the host's average rate times that share, and they only grow while the
//! limits stay. See docs/views.md.
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

/// What the host-wide counter lines are scaled by, and where `btime` moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// The container's share of the host's CPUs, `num / den`.
    pub share: (u64, u64),
    /// Hundredths of a second since the host booted.
    pub host_uptime_cs: u64,
    /// When the container started, in hundredths of a second since boot (`None`: the host's
    /// pid namespace, whose counters count from boot).
    pub start_cs: Option<u64>,
    /// The last pid of the container's pid namespace (its forks), when known.
    pub last_pid: Option<u64>,
}

impl Scale {
    /// No scaling: the host's own counters.
    pub const HOST: Scale = Scale {
        share: (1, 1),
        host_uptime_cs: 1,
        start_cs: None,
        last_pid: None,
    };

    fn apply(&self, v: u64) -> u64 {
        let (num, den) = self.share;
        let lived = self
            .host_uptime_cs
            .saturating_sub(self.start_cs.unwrap_or(0));
        let v = mul_div(v, num, den.max(1));
        mul_div(v, lived, self.host_uptime_cs.max(1))
    }
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
    scale: &Scale,
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
                (_, name @ (b"intr" | b"ctxt" | b"softirq")) => {
                    out.extend_from_slice(name);
                    for v in line[name.len()..]
                        .split(|&b| b == b' ')
                        .filter(|f| !f.is_empty())
                    {
                        out.push(b' ');
                        push_u64(out, scale.apply(parse(v)));
                    }
                    out.push(b'\n');
                }
                (_, b"processes") => {
                    let host = parse(&line[b"processes".len()..]);
                    let v = scale.last_pid.unwrap_or_else(|| scale.apply(host));
                    push_named(out, b"processes", v);
                }
                (_, b"btime") => {
                    let host = parse(&line[b"btime".len()..]);
                    let start_s = scale.start_cs.unwrap_or(0) / 100;
                    push_named(out, b"btime", host.saturating_add(start_s));
                }
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

/// A decimal field (surrounding spaces allowed); 0 when it is not one.
fn parse(field: &[u8]) -> u64 {
    crate::kernel::parse::parse_u64(field.trim_ascii()).unwrap_or(0)
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
            &Scale::HOST,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cpu  200 0 100 200 0 0 0 0 0 0\ncpu1 200 0 100 200 0 0 0 0 0 0\nintr 1 2\nctxt 5\nbtime 17\nprocs_running 1\nprocs_blocked 0\n"
        );
    }

    #[test]
    fn host_counters_are_scaled_to_the_container_and_btime_moves() {
        const HOST: &[u8] = b"cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 100 0 50 1000 0 0 0 0 0 0\nintr 400000 1000 0 2000\nctxt 8000000\nbtime 1700000000\nprocesses 90000\nprocs_running 3\nprocs_blocked 0\nsoftirq 60000 20000 40000\n";
        let v = view("0", (1, 2));
        // Half of one CPU of a 4-CPU host (an eighth), alive for the last half of the host's
        // 10 000 s: counters are an eighth of the host's, over the half of its life.
        let scale = Scale {
            share: (1, 2 * 4),
            host_uptime_cs: 1_000_000,
            start_cs: Some(500_000),
            last_pid: Some(42),
        };
        let mut out = Vec::new();
        render(HOST, &v, None, None, &scale, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\nintr 25000 62 0 125\n"), "{text}");
        assert!(text.contains("\nctxt 500000\n"), "{text}");
        assert!(text.contains("\nsoftirq 3750 1250 2500\n"), "{text}");
        assert!(text.contains("\nprocesses 42\n"), "{text}");
        // Booted when the container started: btime + its uptime is now.
        assert!(text.contains("\nbtime 1700005000\n"), "{text}");
        let mut out = Vec::new();
        render(
            HOST,
            &v,
            None,
            None,
            &Scale {
                last_pid: None,
                ..scale
            },
            &mut out,
        );
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("\nprocesses 5625\n"));
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
        render(HOST, &v, None, None, &Scale::HOST, &mut out);
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
