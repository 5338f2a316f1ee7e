//! v1 cpu: the CFS quota (`cpu.cfs_quota_us`, `-1` for none) per `cpu.cfs_period_us`.

use crate::cgroup::walk::tightest_over_ancestors;
use crate::cgroup::{CgroupDir, CpuQuota, Result};
use crate::kernel::parse::parse_v1_quota;
use crate::kernel::read::{parsed, read_u64, write};

const QUOTA: &str = "cpu.cfs_quota_us";
const PERIOD: &str = "cpu.cfs_period_us";

/// The tightest quota of the cgroup and its ancestors, `None` if none is set.
pub fn read_quota(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuQuota>> {
    tightest_over_ancestors(
        d,
        QUOTA,
        buf,
        |dir, path, bytes| {
            let Some(quota) = parsed(path, parse_v1_quota(bytes))? else {
                return Ok(None);
            };
            let period = read_u64(&dir.join(PERIOD), &mut Vec::with_capacity(32))?;
            Ok(CpuQuota::new(quota, period))
        },
        CpuQuota::is_tighter_than,
    )
}

/// Sets the period, then the quota (`None`: no quota). The period goes first: the kernel
/// checks a quota against the period in place.
pub fn write_quota(d: &CgroupDir, quota_us: Option<u64>, period_us: u64) -> Result<()> {
    write(&d.file(PERIOD), &period_us.to_string())?;
    let quota = quota_us.map_or("-1".to_owned(), |q| q.to_string());
    Ok(write(&d.file(QUOTA), &quota)?)
}
