//! v1 cpuset: `cpuset.effective_cpus` (what the kernel enforces), or `cpuset.cpus` on kernels
//! without it, from the cgroup or its nearest ancestor that has a non-empty list. A v1 cpuset
//! accepts no task until `cpuset.cpus` and `cpuset.mems` are set, so a new cgroup starts with
//! its parent's.

use crate::cgroup::walk::nearest_cpuset;
use crate::cgroup::{CgroupDir, CpuSet, Result};
use crate::kernel::read::{read_into, write};
use std::path::Path;

const CPUS: &str = "cpuset.cpus";
const MEMS: &str = "cpuset.mems";

/// The effective cpuset.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuSet>> {
    nearest_cpuset(d, &["cpuset.effective_cpus", CPUS], buf)
}

/// Sets the CPUs the cgroup may run on.
pub fn write_cpus(d: &CgroupDir, cpus: &str) -> Result<()> {
    Ok(write(&d.file(CPUS), cpus)?)
}

/// Makes a freshly created cgroup directory usable: copies `cpuset.cpus` and `cpuset.mems`
/// from its parent (an empty parent list is an error the caller explains).
pub fn inherit(dir: &Path) -> crate::kernel::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let mut buf = Vec::with_capacity(64);
    for f in [CPUS, MEMS] {
        read_into(&parent.join(f), &mut buf)?;
        let v = String::from_utf8_lossy(&buf);
        write(&dir.join(f), v.trim())?;
    }
    Ok(())
}
