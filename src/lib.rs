//! vproc: per-container views of `/proc` and `/sys/devices/system/cpu`.
//!
//! Data flows one way (docs/architecture.md): [`kernel`] reads the kernel's text files,
//! [`cgroup`] finds a caller's container and reads its limits and usage, [`host`] reads the
//! host's own files as raw bytes, [`views`] turns both into the bytes a container should read,
//! [`compose`] does that for one container with caches and state, and [`fs`] serves the result
//! over FUSE. [`sysinfo`] answers `sysinfo(2)` for containers (seccomp user notification).
//! [`runtime`] is `vproc run`; [`webhook`] is the Kubernetes admission webhook. The views never
//! touch the filesystem, so each is tested on fixtures.
#![warn(missing_docs)]
// The habits the code keeps, held by the compiler: unsafe only in the modules that allow it
// (kernel/syscall.rs, fs/sys.rs, runtime/sys.rs), each block with its SAFETY comment, and no
// unwrap or expect outside tests: every failure is a typed error or a documented fallback.
#![deny(unsafe_code)]
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::unwrap_used,
    clippy::expect_used
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cgroup;
pub mod compose;
pub mod fs;
pub mod fuzz_targets;
pub mod host;
pub mod kernel;
pub mod runtime;
pub mod sysinfo;
pub mod views;
pub mod webhook;
