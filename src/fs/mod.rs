//! The FUSE layer: the inode table, per-open buffers, the filesystem operations and the
//! service that mounts and runs worker threads. Nothing outside this module touches
//! fuse-backend-rs.

mod channel;
mod handles;
mod mountpoint;
mod service;
pub mod supervisor;
pub mod table;
pub mod takeover;
mod vfs;
pub mod worker;

pub use mountpoint::fuse_mount_at;
pub use service::{serve, Config, Service};
pub use vfs::{Stats, VprocFs};

use std::path::Path;

/// Whether `dir` is a live FUSE mount whose `proc/meminfo` answers (a serving vproc, or an
/// lxcfs-style tree).
pub fn serves_views(dir: &Path) -> bool {
    fuse_mount_at(dir).is_some()
        && nix::sys::statfs::statfs(dir).is_ok()
        && dir.join("proc/meminfo").is_file()
}

/// Serves the host's views at `mountpoint` with the default settings until SIGTERM or SIGINT
/// (the embedded server of `vproc run`).
pub fn serve_default(mountpoint: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let renderer = crate::render::Renderer::for_host(
        crate::cgroup::resolve::Mode::Container,
        Config::DEFAULT_CACHE,
    )?;
    let cfg = Config {
        mountpoint: mountpoint.to_owned(),
        threads: Config::default_threads(),
    };
    serve(std::sync::Arc::new(renderer), &cfg)?;
    Ok(())
}
