//! v1 cpu: the CFS quota (`cpu.cfs_quota_us`, `-1` for none) per `cpu.cfs_period_us`.

use crate::cgroup::files;
use crate::cgroup::parse::parse_v1_quota;
use crate::cgroup::snapshot::tightest_over_ancestors;
use crate::cgroup::{CgroupDir, CpuQuota, Result};

const QUOTA: &str = "cpu.cfs_quota_us";
const PERIOD: &str = "cpu.cfs_period_us";

/// The tightest quota of the cgroup and its ancestors, `None` if none is set.
pub fn read_quota(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuQuota>> {
    tightest_over_ancestors(
        d,
        QUOTA,
        buf,
        |dir, path, bytes| {
            let Some(quota) = files::parsed(path, parse_v1_quota(bytes))? else {
                return Ok(None);
            };
            let period = files::read_u64(&dir.join(PERIOD), &mut Vec::with_capacity(32))?;
            Ok(CpuQuota::new(quota, period))
        },
        CpuQuota::is_tighter_than,
    )
}
