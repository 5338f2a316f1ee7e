//! Renders `/sys/devices/system/cpu/online`: the visible CPUs in kernel list format.

use crate::cgroup::CpuSet;

/// Renders `0-3,8\n`.
pub fn render(visible: &CpuSet, out: &mut Vec<u8>) {
    visible.write_list(out);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list() {
        let mut out = Vec::new();
        render(&CpuSet::parse(b"0-3,8").unwrap(), &mut out);
        assert_eq!(out, b"0-3,8\n");
    }
}
