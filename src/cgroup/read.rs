//! Reading a container's snapshot: each requested part from the controller file of the version
//! that serves it.

use super::hierarchy::{CgroupDir, Version};
use super::snapshot::{CgroupSnapshot, ContainerDirs, Parts};
use super::{v1, v2, Result};

/// Reads the requested parts. A part that fails is `None` (logged at debug level), so one
/// missing controller never hides the others.
pub fn read_snapshot(dirs: &ContainerDirs, parts: Parts) -> CgroupSnapshot {
    let mut buf = Vec::with_capacity(4096);
    let mut snap = CgroupSnapshot::default();
    if parts.memory {
        snap.memory = keep(dirs.memory.as_ref().map(|d| match d.version {
            Version::V1 => v1::memory::read(d, &mut buf),
            Version::V2 => v2::memory::read(d, &mut buf),
        }));
    }
    if parts.cpu_limits {
        snap.cpu.quota = keep(dirs.cpu.as_ref().map(|d| match d.version {
            Version::V1 => v1::cpu::read_quota(d, &mut buf),
            Version::V2 => v2::cpu::read_quota(d, &mut buf),
        }))
        .flatten();
        snap.cpu.cpuset = keep(dirs.cpuset.as_ref().map(|d| match d.version {
            Version::V1 => v1::cpuset::read(d, &mut buf),
            Version::V2 => v2::cpuset::read(d, &mut buf),
        }))
        .flatten();
    }
    if parts.cpu_usage {
        snap.cpu.usage = keep(dirs.cpuacct.as_ref().map(|d| match d.version {
            Version::V1 => v1::cpuacct::read(d, &mut buf),
            Version::V2 => v2::cpu::read_usage(d, &mut buf),
        }));
    }
    if parts.io {
        snap.io = keep(dirs.blkio.as_ref().map(|d| match d.version {
            Version::V1 => v1::blkio::read(d, &mut buf),
            Version::V2 => v2::io::read(d, &mut buf),
        }));
    }
    if parts.pids {
        snap.pids = keep(dirs.pids.as_ref().map(|d| match d.version {
            Version::V1 => v1::pids::read(d, &mut buf),
            Version::V2 => v2::pids::read(d, &mut buf),
        }));
    }
    let psi = |d: &Option<CgroupDir>, file: &str, buf: &mut Vec<u8>| {
        // v1 has no per-cgroup pressure: the view keeps the host's.
        keep(
            d.as_ref()
                .filter(|d| d.version == Version::V2)
                .map(|d| v2::pressure::read(d, file, buf)),
        )
    };
    if parts.psi_cpu {
        snap.pressure.cpu = psi(&dirs.cpu, v2::pressure::CPU, &mut buf);
    }
    if parts.psi_memory {
        snap.pressure.memory = psi(&dirs.memory, v2::pressure::MEMORY, &mut buf);
    }
    if parts.psi_io {
        snap.pressure.io = psi(&dirs.blkio, v2::pressure::IO, &mut buf);
    }
    snap
}

fn keep<T>(r: Option<Result<T>>) -> Option<T> {
    match r? {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!(error = %e, "cgroup part unreadable, host value used");
            None
        }
    }
}
