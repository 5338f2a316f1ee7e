//! cgroup v2 readers, one file per controller.

pub mod cpu;
pub mod cpuset;
pub mod io;
pub mod memory;
