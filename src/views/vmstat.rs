//! Renders `/proc/vmstat`: the host's lines, with the container's own value wherever its
//! cgroup has one that means the same thing.
//!
//! * Page counts (`nr_*`) from `memory.stat` (bytes, divided by the page size):
//!   `nr_free_pages` (limit minus usage), `nr_{in,}active_{anon,file}`, `nr_unevictable`,
//!   `nr_anon_pages`, `nr_file_pages`, `nr_mapped`, `nr_shmem`, `nr_dirty`, `nr_writeback`,
//!   `nr_slab_{,un}reclaimable`, `nr_page_table_pages`; `nr_kernel_stack` in kB, as the kernel
//!   shows it.
//! * Event counters with the same name and meaning in `memory.stat` ([`MemoryEvents`]):
//!   `pgfault`, `pgmajfault`, `pswpin`, `pswpout`, `workingset_*`, `pgactivate`, ...
//!   (v1 has only the two fault counters).
//! * `pgpgin`/`pgpgout` (kB read from and written to block devices) from the container's I/O
//!   accounting (`blkio`/`io.stat` bytes over 1024), which is what `vmstat`'s bi/bo show.
//!
//! Every other line (per-zone and NUMA counters, compaction, the balloon...) has no per-cgroup
//! source and is the host's. Without a memory snapshot the page and event lines are the
//! host's; without I/O accounting, `pgpgin`/`pgpgout` are.

use super::fmt::push_u64;
use crate::cgroup::{IoSnapshot, MemoryEvents, MemorySnapshot};
use crate::host::lines;

/// Renders the container's vmstat into `out`; `page_size` is the host's, in bytes.
pub fn render(
    host: &[u8],
    memory: Option<&MemorySnapshot>,
    io: Option<&IoSnapshot>,
    page_size: u64,
    out: &mut Vec<u8>,
) {
    let page = page_size.max(1);
    for line in lines(host) {
        let (name, _) = split(line);
        match value(name, memory, io, page) {
            Some(v) => {
                out.extend_from_slice(name);
                out.push(b' ');
                push_u64(out, v);
                out.push(b'\n');
            }
            None => {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }
}

fn split(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, b""),
    }
}

/// The container's value of the vmstat line `name`, if its cgroup has one.
fn value(
    name: &[u8],
    m: Option<&MemorySnapshot>,
    io: Option<&IoSnapshot>,
    page: u64,
) -> Option<u64> {
    if let b"pgpgin" | b"pgpgout" = name {
        let io = io?;
        let bytes: u64 = io
            .devices
            .iter()
            .map(|d| {
                if name == b"pgpgin" {
                    d.read_bytes
                } else {
                    d.write_bytes
                }
            })
            .fold(0u64, u64::saturating_add);
        return Some(bytes / 1024);
    }
    let m = m?;
    let s = &m.stat;
    let pages = |b: Option<u64>| b.map(|b| b / page);
    match name {
        b"nr_free_pages" => m.limit.map(|l| l.saturating_sub(m.usage) / page),
        b"nr_inactive_anon" => pages(s.inactive_anon),
        b"nr_active_anon" => pages(s.active_anon),
        b"nr_inactive_file" => pages(s.inactive_file),
        b"nr_active_file" => pages(s.active_file),
        b"nr_unevictable" => pages(s.unevictable),
        b"nr_anon_pages" => pages(s.anon),
        b"nr_file_pages" => pages(s.file),
        b"nr_mapped" => pages(s.file_mapped),
        b"nr_shmem" => pages(s.shmem),
        b"nr_dirty" => pages(s.file_dirty),
        b"nr_writeback" => pages(s.file_writeback),
        b"nr_slab_reclaimable" => pages(s.slab_reclaimable),
        b"nr_slab_unreclaimable" => pages(s.slab_unreclaimable),
        b"nr_page_table_pages" => pages(s.pagetables),
        b"nr_kernel_stack" => s.kernel_stack.map(|b| b / 1024),
        _ => events(&s.events, name),
    }
}

fn events(e: &MemoryEvents, name: &[u8]) -> Option<u64> {
    e.get(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::{IoDevice, MemoryStat};

    const HOST: &[u8] = b"nr_free_pages 5000000\nnr_inactive_anon 100\nnr_kernel_stack 9000\npgpgin 777\npgpgout 888\npswpin 5\npgfault 123456789\npgmajfault 4000\nnuma_hit 42\nnr_dirty 3\n";

    #[test]
    fn container_values_where_the_cgroup_has_them() {
        let mut stat = MemoryStat {
            inactive_anon: Some(8192 * 10),
            kernel_stack: Some(65536),
            ..MemoryStat::default()
        };
        stat.events.pgfault = Some(1000);
        let m = MemorySnapshot {
            limit: Some(256 << 20),
            usage: 56 << 20,
            swap: None,
            stat,
        };
        let io = IoSnapshot {
            devices: vec![IoDevice {
                major: 8,
                minor: 0,
                read_bytes: 10240,
                write_bytes: 2048,
                read_ios: 1,
                write_ios: 1,
                discard_bytes: 0,
                discard_ios: 0,
            }],
        };
        let mut out = Vec::new();
        render(HOST, Some(&m), Some(&io), 4096, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "nr_free_pages 51200\nnr_inactive_anon 20\nnr_kernel_stack 64\npgpgin 10\npgpgout 2\npswpin 5\npgfault 1000\npgmajfault 4000\nnuma_hit 42\nnr_dirty 3\n"
        );
        // No snapshot at all: the host's, byte for byte.
        let mut out = Vec::new();
        render(HOST, None, None, 4096, &mut out);
        assert_eq!(out, HOST);
    }
}
