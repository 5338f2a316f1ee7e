//! v1 memory: `memory.limit_in_bytes`, `memory.usage_in_bytes`, `memory.memsw.*` (memory plus
//! swap, converted here to swap alone), the hierarchical `total_*` keys of `memory.stat` and the
//! OOM kill count of `memory.oom_control`.

use crate::cgroup::walk::min_over_ancestors;
use crate::cgroup::{CgroupDir, MemorySnapshot, MemoryStat, Result, SwapSnapshot};
use crate::kernel::parse::{parse_u64, parse_v1_memory_limit};
use crate::kernel::read::{read_key_values, read_u64, write};

const LIMIT: &str = "memory.limit_in_bytes";
const USAGE: &str = "memory.usage_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";
const MEMSW_USAGE: &str = "memory.memsw.usage_in_bytes";
const STAT: &str = "memory.stat";
const OOM_CONTROL: &str = "memory.oom_control";

/// Reads the memory snapshot of a v1 cgroup.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<MemorySnapshot> {
    let limit = min_over_ancestors(d, LIMIT, buf, parse_v1_memory_limit)?;
    let usage = read_u64(&d.file(USAGE), buf)?;
    let swap = read_swap(d, limit, usage, buf)?;
    let mut stat = MemoryStat::default();
    read_key_values(&d.file(STAT), buf, |k, v| set_stat(&mut stat, k, v))?;
    Ok(MemorySnapshot {
        limit,
        usage,
        swap,
        stat,
    })
}

/// memsw counts memory plus swap; swap alone is the difference. A kernel booted without swap
/// accounting has no memsw files, which means "no swap accounting", not an error.
fn read_swap(
    d: &CgroupDir,
    mem_limit: Option<u64>,
    mem_usage: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<SwapSnapshot>> {
    let memsw_limit = match min_over_ancestors(d, MEMSW_LIMIT, buf, parse_v1_memory_limit) {
        Ok(v) => v,
        Err(e) if e.is_missing() => return Ok(None),
        Err(e) => return Err(e),
    };
    let memsw_usage = read_u64(&d.file(MEMSW_USAGE), buf)?;
    let limit = match (memsw_limit, mem_limit) {
        (Some(sw), Some(mem)) => Some(sw.saturating_sub(mem)),
        // memsw set but memory not: swap is bounded by memsw alone.
        (Some(sw), None) => Some(sw),
        (None, _) => None,
    };
    Ok(Some(SwapSnapshot {
        limit,
        usage: memsw_usage.saturating_sub(mem_usage),
    }))
}

/// Exact keys only: `total_rss` must not swallow `total_rss_huge` (lxcfs's AnonHugePages bug).
fn set_stat(s: &mut MemoryStat, key: &[u8], value: &[u8]) {
    let Ok(v) = parse_u64(value) else { return };
    let slot = match key {
        // The only v1 events that mean what /proc/vmstat's do (total_pgpgin counts charges,
        // not kilobytes read).
        b"total_pgfault" => &mut s.events.pgfault,
        b"total_pgmajfault" => &mut s.events.pgmajfault,
        b"total_cache" => &mut s.file,
        b"total_rss" => &mut s.anon,
        b"total_rss_huge" => &mut s.anon_thp,
        b"total_shmem" => &mut s.shmem,
        b"total_mapped_file" => &mut s.file_mapped,
        b"total_dirty" => &mut s.file_dirty,
        b"total_writeback" => &mut s.file_writeback,
        b"total_active_anon" => &mut s.active_anon,
        b"total_inactive_anon" => &mut s.inactive_anon,
        b"total_active_file" => &mut s.active_file,
        b"total_inactive_file" => &mut s.inactive_file,
        b"total_unevictable" => &mut s.unevictable,
        _ => return,
    };
    *slot = Some(v);
}

/// How many processes the OOM killer killed in the cgroup (`oom_kill` of `memory.oom_control`).
pub fn read_oom_kills(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<u64> {
    let mut n = 0;
    read_key_values(&d.file(OOM_CONTROL), buf, |k, v| {
        if k == b"oom_kill" {
            n = parse_u64(v).unwrap_or(0);
        }
    })?;
    Ok(n)
}

/// Sets the memory limit in bytes.
pub fn write_limit(d: &CgroupDir, bytes: u64) -> Result<()> {
    Ok(write(&d.file(LIMIT), &bytes.to_string())?)
}

/// Sets memory plus swap (`None`: unlimited). `Ok(false)` when the kernel does not account
/// swap (no memsw files).
pub fn write_memory_and_swap(d: &CgroupDir, total: Option<u64>) -> Result<bool> {
    let path = d.file(MEMSW_LIMIT);
    if !path.exists() {
        return Ok(false);
    }
    let value = total.map_or("-1".to_owned(), |t| t.to_string());
    write(&path, &value)?;
    Ok(true)
}
