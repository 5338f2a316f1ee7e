//! v2 pids (the same files as v1): `pids.current` and the tightest `pids.max` (`max` for none) of the cgroup and its
//! ancestors.

use crate::cgroup::walk::min_over_ancestors;
use crate::cgroup::{CgroupDir, PidsSnapshot, Result};
use crate::kernel::parse::parse_limit;
use crate::kernel::read::{read_u64, write};

const CURRENT: &str = "pids.current";
const MAX: &str = "pids.max";

/// Task count and limit.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<PidsSnapshot> {
    let current = read_u64(&d.file(CURRENT), buf)?;
    let limit = min_over_ancestors(d, MAX, buf, parse_limit)?;
    Ok(PidsSnapshot { current, limit })
}

/// Sets the most tasks the cgroup may hold.
pub fn write_max(d: &CgroupDir, max: u64) -> Result<()> {
    Ok(write(&d.file(MAX), &max.to_string())?)
}
