//! v2 memory: `memory.max`, `memory.current`, `memory.swap.max`, `memory.swap.current`, the
//! (already hierarchical) `memory.stat` and the OOM kill count of `memory.events`.

use crate::cgroup::walk::min_over_ancestors;
use crate::cgroup::{CgroupDir, MemorySnapshot, MemoryStat, Result, SwapSnapshot};
use crate::kernel::parse::{parse_limit, parse_u64};
use crate::kernel::read::{read_key_values, read_u64, write};

const MAX: &str = "memory.max";
const CURRENT: &str = "memory.current";
const SWAP_MAX: &str = "memory.swap.max";
const SWAP_CURRENT: &str = "memory.swap.current";
const STAT: &str = "memory.stat";
const EVENTS: &str = "memory.events";

/// Reads the memory snapshot of a v2 cgroup.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<MemorySnapshot> {
    let limit = min_over_ancestors(d, MAX, buf, parse_limit)?;
    let usage = read_u64(&d.file(CURRENT), buf)?;
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
    let usage = match read_u64(&d.file(SWAP_CURRENT), buf) {
        Ok(v) => v,
        Err(e) if e.is_missing() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let limit = min_over_ancestors(d, SWAP_MAX, buf, parse_limit)?;
    Ok(Some(SwapSnapshot { limit, usage }))
}

/// Exact keys only: `file` must not swallow `file_mapped`, `file_dirty`, `file_writeback`
/// (lxcfs shows Mapped, Dirty and Writeback as 0 on v2 for that reason).
fn set_stat(s: &mut MemoryStat, key: &[u8], value: &[u8]) {
    let Ok(v) = parse_u64(value) else { return };
    if s.events.set(key, v) {
        return;
    }
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

/// How many processes the OOM killer killed in the cgroup (`oom_kill` of `memory.events`).
pub fn read_oom_kills(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<u64> {
    let mut n = 0;
    read_key_values(&d.file(EVENTS), buf, |k, v| {
        if k == b"oom_kill" {
            n = parse_u64(v).unwrap_or(0);
        }
    })?;
    Ok(n)
}

/// Sets the memory limit in bytes.
pub fn write_limit(d: &CgroupDir, bytes: u64) -> Result<()> {
    Ok(write(&d.file(MAX), &bytes.to_string())?)
}

/// Sets the swap limit alone (`None`: unlimited). `Ok(false)` when the kernel does not account
/// swap (no `memory.swap.max`).
pub fn write_swap(d: &CgroupDir, swap: Option<u64>) -> Result<bool> {
    let path = d.file(SWAP_MAX);
    if !path.exists() {
        return Ok(false);
    }
    let value = swap.map_or("max".to_owned(), |s| s.to_string());
    write(&path, &value)?;
    Ok(true)
}
