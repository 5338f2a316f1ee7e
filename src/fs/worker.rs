//! The worker process of `vproc serve`: serves the channels its supervisor hands it (one thread
//! per inherited `/dev/fuse` channel of each tree), says when it is ready, and on SIGTERM stops
//! between requests and exits without unmounting, so a successor takes over with no gap.
//!
//! The channel fds belong to the supervisor too, so if this process dies, requests it had taken
//! stay queued on them and the supervisor asks the kernel to resend them.

use super::registry::Registry;
use super::server::{Channels, Server};
use super::supervisor::status;
use super::Error;
use crate::compose::Composer;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::fs::File;
use std::io::Write;
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The fd numbers a supervisor passed to its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InheritedFds {
    /// The views tree's channels.
    pub views: Vec<RawFd>,
    /// The containers tree's channels.
    pub containers: Vec<RawFd>,
    /// The ready pipe's write end.
    pub ready: RawFd,
}

/// Adopts the fds a supervisor passed (each channel checked to be `/dev/fuse`) and serves them,
/// see [`run_worker`].
pub fn run_inherited(
    composer: Arc<Composer>,
    mountpoint: &Path,
    generation: u64,
    fds: InheritedFds,
    metrics_addr: Option<std::net::SocketAddr>,
) -> Result<(), Error> {
    #[allow(unsafe_code)]
    let adopt = |fd: RawFd| {
        // SAFETY: the supervisor passed these fds to this process by exec for it to own;
        // adopt_fuse_fd checks each is /dev/fuse.
        unsafe { super::sys::adopt_fuse_fd(fd) }.map_err(Error::sys("adopting a FUSE channel"))
    };
    let channels = Channels {
        views: fds
            .views
            .iter()
            .map(|&f| adopt(f))
            .collect::<Result<_, _>>()?,
        containers: fds
            .containers
            .iter()
            .map(|&f| adopt(f))
            .collect::<Result<_, _>>()?,
    };
    #[allow(unsafe_code)]
    // SAFETY: the ready fd is a pipe's write end passed to this process alone.
    let ready = File::from(unsafe { super::sys::adopt_fd(fds.ready) });
    run_worker(
        composer,
        mountpoint,
        generation,
        channels,
        ready,
        metrics_addr,
    )
}

/// Serves `channels` until SIGTERM or SIGINT, then exits the process (status 0). Its status
/// and metrics are served on the mount's control socket, and on `metrics_addr` if given.
pub fn run_worker(
    composer: Arc<Composer>,
    mountpoint: &Path,
    generation: u64,
    channels: Channels,
    mut ready: File,
    metrics_addr: Option<std::net::SocketAddr>,
) -> Result<(), Error> {
    // If the supervisor dies, so does its worker (a successor supervisor adopts it via exec,
    // which is not a death).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| Error::sys("setting the parent-death signal")(e.into()))?;
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&signals), None)
        .map_err(|e| Error::sys("blocking signals")(e.into()))?;
    let registry = Arc::new(Registry::new(
        Some(status::slots_path(mountpoint)),
        generation,
    ));
    // Load averages continue across workers through this file (written after every sample).
    let server = Server::start(
        composer,
        registry,
        channels,
        Some(status::load_path(mountpoint)),
        true,
    )
    .map_err(Error::sys("starting the channel threads"))?;
    // A worker that cannot be watched still serves: the control socket is not the read path.
    if let Err(e) = super::control::start(
        server.report_sources(mountpoint, generation),
        &status::control_path(mountpoint),
        metrics_addr,
    ) {
        tracing::error!(error = %e, metrics_addr = ?metrics_addr, "the status and metrics endpoint could not start");
    }
    ready
        .write_all(b"r")
        .map_err(Error::sys("telling the supervisor this worker is ready"))?;
    drop(ready);
    let sig = signals
        .wait()
        .map_err(|e| Error::sys("waiting for a signal")(e.into()))?;
    // Answer what was already taken from the kernel; threads blocked in read hold no request.
    server.quiesce(Duration::from_secs(2));
    tracing::debug!(signal = ?sig, "worker stopped");
    std::process::exit(0)
}
