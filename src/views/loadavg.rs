//! Renders `/proc/loadavg` from a container's load state, and keeps that state with the
//! kernel's fixed-point exponential moving average over 5-second samples.

use super::fmt::push_u64;

const FSHIFT: u32 = 11;
const FIXED_1: u64 = 1 << FSHIFT;
/// exp(-5s/1min), exp(-5s/5min), exp(-5s/15min) in fixed point, as in the kernel.
const EXP: [u64; 3] = [1884, 2014, 2037];

/// A container's load averages and task counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadAvg {
    /// 1, 5 and 15-minute averages in FSHIFT fixed point.
    pub avenrun: [u64; 3],
    /// Runnable tasks at the last sample.
    pub running: u64,
    /// Tasks at the last sample.
    pub total: u64,
    /// Most recently created pid, as the container numbers it.
    pub last_pid: u64,
}

impl LoadAvg {
    /// Folds one 5-second sample of `active` (running + uninterruptible) tasks in.
    pub fn sample(&mut self, active: u64) {
        let active = active.saturating_mul(FIXED_1);
        for (avg, exp) in self.avenrun.iter_mut().zip(EXP) {
            *avg = calc_load(*avg, exp, active);
        }
    }
}

fn calc_load(load: u64, exp: u64, active: u64) -> u64 {
    let mut newload = load
        .saturating_mul(exp)
        .saturating_add(active.saturating_mul(FIXED_1 - exp));
    if active >= load {
        newload = newload.saturating_add(FIXED_1 - 1);
    }
    newload / FIXED_1
}

/// Renders `0.57 0.13 0.04 2/4 7270\n`.
pub fn render(l: &LoadAvg, out: &mut Vec<u8>) {
    for avg in l.avenrun {
        let x = avg.saturating_add(FIXED_1 / 200);
        push_u64(out, x >> FSHIFT);
        out.push(b'.');
        let frac = ((x & (FIXED_1 - 1)) * 100) >> FSHIFT;
        if frac < 10 {
            out.push(b'0');
        }
        push_u64(out, frac);
        out.push(b' ');
    }
    push_u64(out, l.running);
    out.push(b'/');
    push_u64(out, l.total);
    out.push(b' ');
    push_u64(out, l.last_pid);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_converges_like_the_kernel() {
        let mut l = LoadAvg {
            running: 2,
            total: 4,
            last_pid: 7,
            ..LoadAvg::default()
        };
        let mut out = Vec::new();
        render(&l, &mut out);
        assert_eq!(out, b"0.00 0.00 0.00 2/4 7\n");
        // One minute of 2 busy tasks: the 1-minute average reaches 2 * (1 - 1/e) ~ 1.26.
        for _ in 0..12 {
            l.sample(2);
        }
        out.clear();
        render(&l, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("1.2"), "{s}");
        for _ in 0..2000 {
            l.sample(2);
        }
        out = Vec::new();
        render(&l, &mut out);
        assert!(
            out.starts_with(b"2.00 2.00 2.00"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}
