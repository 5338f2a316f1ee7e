//! `/proc/stat` CPU lines: `cpu  user nice system idle iowait irq softirq steal guest
//! guest_nice` in USER_HZ ticks, then one `cpuN` line per online CPU.

use crate::kernel::parse::{self, parse_u64};

/// Which CPU a `cpu` line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuLine {
    /// The aggregate `cpu ` line.
    All,
    /// A `cpuN` line.
    Cpu(usize),
}

/// Classifies a line of `/proc/stat`; `None` for non-CPU lines.
pub fn cpu_line(line: &[u8]) -> Option<CpuLine> {
    let rest = line.strip_prefix(b"cpu")?;
    let id_end = rest.iter().position(|b| b.is_ascii_whitespace())?;
    if id_end == 0 {
        return Some(CpuLine::All);
    }
    let id = parse_u64(&rest[..id_end]).ok()?;
    usize::try_from(id).ok().map(CpuLine::Cpu)
}

/// The ten counters of a CPU line (missing trailing ones are 0).
pub fn counters(line: &[u8]) -> [u64; 10] {
    let mut out = [0u64; 10];
    for (slot, w) in out.iter_mut().zip(parse::words(line).skip(1)) {
        *slot = parse_u64(w).unwrap_or(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(cpu_line(b"cpu  1 2 3"), Some(CpuLine::All));
        assert_eq!(cpu_line(b"cpu12 1 2 3"), Some(CpuLine::Cpu(12)));
        assert_eq!(cpu_line(b"ctxt 5"), None);
        assert_eq!(cpu_line(b"cpux 5"), None);
        assert_eq!(counters(b"cpu0 1 2 3 4")[3], 4);
    }
}
