//! Renders `/proc/swaps`: the host's header line, and one line for the container's swap when
//! its SwapTotal (as in meminfo) is above 0. Host device names are never shown.

use super::fmt::{push_padded, push_u64};
use super::meminfo::MemFigures;
use crate::host::lines;

/// The kernel's header, used when the host file is unreadable.
const HEADER: &[u8] = b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority";

/// Renders the container's swaps into `out`. `mem` is `None` when the container's memory is
/// unknown: then only the header is shown (never the host's devices).
pub fn render(host_swaps: &[u8], mem: Option<&MemFigures>, out: &mut Vec<u8>) {
    let header = lines(host_swaps)
        .next()
        .filter(|h| h.starts_with(b"Filename"));
    out.extend_from_slice(header.unwrap_or(HEADER));
    out.push(b'\n');
    let Some(m) = mem.filter(|m| m.swap_total > 0) else {
        return;
    };
    let used = m.swap_total.saturating_sub(m.swap_free);
    // The kernel's layout: name padded to 40, then type, size, used, priority, with an extra
    // tab after numbers shorter than 8 digits.
    push_padded(out, b"none", 40);
    out.extend_from_slice(b"partition\t");
    for v in [m.swap_total, used] {
        push_u64(out, v);
        out.push(b'\t');
        if v < 10_000_000 {
            out.push(b'\t');
        }
    }
    out.extend_from_slice(b"-2\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_for_container_swap() {
        let f = MemFigures {
            total: 262144,
            free: 0,
            available: 0,
            swap_total: 131072,
            swap_free: 130048,
            anon: 0,
            cached: 0,
            sreclaimable: 0,
        };
        let mut out = Vec::new();
        render(
            b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sda2 partition 1 0 -2\n",
            Some(&f),
            &mut out,
        );
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.lines().count(), 2);
        assert!(s.ends_with("partition\t131072\t\t1024\t\t-2\n"), "{s:?}");
        assert!(!s.contains("sda"));
        let mut out = Vec::new();
        render(b"", None, &mut out);
        assert_eq!(out, [HEADER, b"\n"].concat());
    }
}
