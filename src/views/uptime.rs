//! Renders `/proc/uptime`: seconds since the container's init started (the host's uptime for
//! host callers), and idle = visible CPUs x uptime - the container's CPU time, never below 0.

use super::fmt::push_centis;
use super::Clock;
use crate::cgroup::CpuUsage;

/// Renders `uptime idle\n` with two decimals. Without usage, idle counts the whole capacity.
pub fn render(clock: &Clock, visible_cpus: u64, usage: Option<&CpuUsage>, out: &mut Vec<u8>) {
    let up = clock.container_uptime_cs();
    let busy_cs = usage.map_or(0, |u| u.user_ns.saturating_add(u.system_ns) / 10_000_000);
    let idle = up
        .saturating_mul(visible_cpus.max(1))
        .saturating_sub(busy_cs);
    push_centis(out, up);
    out.push(b' ');
    push_centis(out, idle);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_age_and_idle() {
        let clock = Clock {
            host_uptime_cs: 100_000,
            container_start_cs: Some(99_750),
            user_hz: 100,
        };
        let usage = CpuUsage {
            user_ns: 1_000_000_000,
            system_ns: 0,
            per_cpu: vec![],
        };
        let mut out = Vec::new();
        render(&clock, 2, Some(&usage), &mut out);
        assert_eq!(out, b"2.50 4.00\n");
        out.clear();
        let future = Clock {
            container_start_cs: Some(200_000),
            ..clock
        };
        render(&future, 2, Some(&usage), &mut out);
        assert_eq!(out, b"0.00 0.00\n");
        out.clear();
        render(
            &Clock {
                container_start_cs: None,
                ..clock
            },
            1,
            None,
            &mut out,
        );
        assert_eq!(out, b"1000.00 1000.00\n");
    }
}
