//! v1 cpuset: `cpuset.effective_cpus` (what the kernel enforces), or `cpuset.cpus` on kernels
//! without it, from the cgroup or its nearest ancestor that has a non-empty list.

use crate::cgroup::snapshot::nearest_cpuset;
use crate::cgroup::{CgroupDir, CpuSet, Result};

/// The effective cpuset.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuSet>> {
    nearest_cpuset(d, &["cpuset.effective_cpus", "cpuset.cpus"], buf)
}
