//! cgroup v1 readers and writers, one file per controller.

pub mod blkio;
pub mod cpu;
pub mod cpuacct;
pub mod cpuset;
pub mod memory;
pub mod pids;
