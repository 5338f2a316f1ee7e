//! cgroup v2 readers and writers, one file per controller.

pub mod cpu;
pub mod cpuset;
pub mod io;
pub mod memory;
pub mod pids;
pub mod pressure;
