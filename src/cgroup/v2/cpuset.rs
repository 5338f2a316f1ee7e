//! v2 cpuset: `cpuset.cpus.effective`, present only where the cpuset controller is enabled,
//! so the nearest ancestor that has it answers for the cgroup.

use crate::cgroup::walk::nearest_cpuset;
use crate::cgroup::{CgroupDir, CpuSet, Result};
use crate::kernel::read::write;

/// The effective cpuset.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuSet>> {
    nearest_cpuset(d, &["cpuset.cpus.effective"], buf)
}

/// Sets the CPUs the cgroup may run on.
pub fn write_cpus(d: &CgroupDir, cpus: &str) -> Result<()> {
    Ok(write(&d.file("cpuset.cpus"), cpus)?)
}
