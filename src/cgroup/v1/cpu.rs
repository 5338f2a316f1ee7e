//! v1 cpu: the CFS quota (`cpu.cfs_quota_us`, `-1` for none) per `cpu.cfs_period_us`.

use crate::cgroup::files::{self, is_missing};
use crate::cgroup::parse::{parse_u64, parse_v1_quota};
use crate::cgroup::{CgroupDir, CpuQuota, Result};

const QUOTA: &str = "cpu.cfs_quota_us";
const PERIOD: &str = "cpu.cfs_period_us";

/// The tightest quota of the cgroup and its ancestors, `None` if none is set.
pub fn read_quota(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuQuota>> {
    let mut tightest: Option<CpuQuota> = None;
    for (depth, dir) in d.self_and_ancestors().enumerate() {
        let qpath = dir.join(QUOTA);
        match files::read_into(&qpath, buf) {
            Ok(()) => {}
            Err(e) if depth > 0 && is_missing(&e) => continue,
            Err(e) => return Err(e),
        }
        let Some(quota) = files::parsed(&qpath, parse_v1_quota(buf))? else {
            continue;
        };
        let ppath = dir.join(PERIOD);
        files::read_into(&ppath, buf)?;
        let period = files::parsed(&ppath, parse_u64(buf))?;
        if let Some(q) = CpuQuota::new(quota, period) {
            if tightest.is_none_or(|t| q.is_tighter_than(&t)) {
                tightest = Some(q);
            }
        }
    }
    Ok(tightest)
}
