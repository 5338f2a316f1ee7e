//! vproc: per-container views of `/proc` and `/sys/devices/system/cpu`.
//!
//! Data flows one way: [`cgroup`] finds a caller's container and reads its limits and usage,
//! [`host`] reads the host's own files as raw bytes, and [`views`] turns both into the bytes a
//! container should read. The views never touch the filesystem, so each is tested on fixtures.
#![warn(missing_docs)]

pub mod cgroup;
pub mod compose;
pub mod fs;
pub mod host;
pub mod kernel;
pub mod runtime;
pub mod views;
