//! The FUSE layer: the inode table, per-open buffers, the filesystem operations and the
//! service that mounts and runs worker threads. Nothing outside this module touches
//! fuse-backend-rs.

mod handles;
mod mountpoint;
mod service;
pub mod table;
mod vfs;

pub use service::{serve, Config, Service};
pub use vfs::{Stats, VprocFs};
