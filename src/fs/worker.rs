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
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Serves `channels` until SIGTERM or SIGINT, then exits the process (status 0).
pub fn run_worker(
    composer: Arc<Composer>,
    mountpoint: &Path,
    generation: u64,
    channels: Channels,
    mut ready: File,
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
    )
    .map_err(Error::sys("starting the channel threads"))?;
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
