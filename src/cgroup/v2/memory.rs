//! v2 memory: `memory.max`, `memory.current`, `memory.swap.max`, `memory.swap.current` and the
//! (already hierarchical) `memory.stat`.

use crate::cgroup::files::{self, is_missing};
use crate::cgroup::parse::{parse_limit, parse_u64};
use crate::cgroup::snapshot::{min_over_ancestors, read_key_values};
use crate::cgroup::{CgroupDir, MemorySnapshot, MemoryStat, Result, SwapSnapshot};

const MAX: &str = "memory.max";
const CURRENT: &str = "memory.current";
const SWAP_MAX: &str = "memory.swap.max";
const SWAP_CURRENT: &str = "memory.swap.current";
const STAT: &str = "memory.stat";

/// Reads the memory snapshot of a v2 cgroup.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<MemorySnapshot> {
    let limit = min_over_ancestors(d, MAX, buf, parse_limit)?;
    let usage = files::read_u64(&d.file(CURRENT), buf)?;
    let swap = read_swap(d, buf)?;
    let mut stat = MemoryStat::default();
    read_key_values(&d.file(STAT), buf, |k, v| set_stat(&mut stat, k, v))?;
    Ok(MemorySnapshot {
        limit,
        usage,
        swap,
        stat,
    })
}

/// No `memory.swap.current` means the kernel does not account swap (no swap configured at
/// build or `swapaccount=0`): no swap accounting, not an error.
fn read_swap(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<SwapSnapshot>> {
    let usage = match files::read_u64(&d.file(SWAP_CURRENT), buf) {
        Ok(v) => v,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let limit = min_over_ancestors(d, SWAP_MAX, buf, parse_limit)?;
    Ok(Some(SwapSnapshot { limit, usage }))
}

/// Exact keys only: `file` must not swallow `file_mapped`, `file_dirty`, `file_writeback`
/// (lxcfs shows Mapped, Dirty and Writeback as 0 on v2 for that reason).
fn set_stat(s: &mut MemoryStat, key: &[u8], value: &[u8]) {
    let Ok(v) = parse_u64(value) else { return };
    let slot = match key {
        b"anon" => &mut s.anon,
        b"file" => &mut s.file,
        b"kernel_stack" => &mut s.kernel_stack,
        b"pagetables" => &mut s.pagetables,
        b"shmem" => &mut s.shmem,
        b"file_mapped" => &mut s.file_mapped,
        b"file_dirty" => &mut s.file_dirty,
        b"file_writeback" => &mut s.file_writeback,
        b"anon_thp" => &mut s.anon_thp,
        b"active_anon" => &mut s.active_anon,
        b"inactive_anon" => &mut s.inactive_anon,
        b"active_file" => &mut s.active_file,
        b"inactive_file" => &mut s.inactive_file,
        b"unevictable" => &mut s.unevictable,
        b"slab" => &mut s.slab,
        b"slab_reclaimable" => &mut s.slab_reclaimable,
        b"slab_unreclaimable" => &mut s.slab_unreclaimable,
        _ => return,
    };
    *slot = Some(v);
}
