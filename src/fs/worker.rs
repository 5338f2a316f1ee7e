//! The worker process of `vproc serve`: serves the connection its supervisor hands it (one
//! inherited `/dev/fuse` channel per thread), says when it is ready, and on SIGTERM stops
//! between requests and exits without unmounting, so a successor takes over with no gap.
//!
//! The channel fds belong to the supervisor too, so if this process dies, requests it had taken
//! stay queued on them and the supervisor asks the kernel to resend them.

use super::channel::run_channel;
use super::service::{sys, Error};
use super::vfs::{Stats, VprocFs};
use crate::render::load::Sampler;
use crate::render::Renderer;
use fuse_backend_rs::api::server::Server;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request buffer large enough for any request a read-only tree receives.
const BUFSIZE: usize = 1 << 20;

/// Serves `channels` until SIGTERM or SIGINT, then exits the process (status 0).
pub fn run_worker(
    renderer: Arc<Renderer>,
    channels: Vec<File>,
    mut ready: File,
    load_state: Option<std::path::PathBuf>,
) -> Result<(), Error> {
    // If the supervisor dies, so does its worker (a successor supervisor adopts it via exec,
    // which is not a death).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(sys("setting the parent-death signal"))?;
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&signals), None)
        .map_err(sys("blocking signals"))?;
    // Load averages continue across workers through this file (written after every sample).
    let _sampler = Sampler::spawn(renderer.clone(), load_state).map_err(|source| Error::Sys {
        what: "spawning the load sampler",
        source,
    })?;
    let server = Arc::new(Server::new(VprocFs::new(
        renderer,
        Arc::new(Stats::default()),
    )));
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    for (i, dev) in channels.into_iter().enumerate() {
        let (server, stop, in_flight) = (server.clone(), stop.clone(), in_flight.clone());
        std::thread::Builder::new()
            .name(format!("vproc:fuse-{i}"))
            .spawn(move || run_channel(&server, &dev, &stop, &in_flight, BUFSIZE))
            .map_err(|source| Error::Sys {
                what: "spawning a channel thread",
                source,
            })?;
    }
    ready.write_all(b"r").map_err(|source| Error::Sys {
        what: "telling the supervisor this worker is ready",
        source,
    })?;
    drop(ready);
    let sig = signals.wait().map_err(sys("waiting for a signal"))?;
    stop.store(true, Ordering::Release);
    // Answer what was already taken from the kernel; threads blocked in read hold no request.
    let deadline = Instant::now() + Duration::from_secs(2);
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    tracing::debug!(signal = ?sig, "worker stopped");
    std::process::exit(0)
}
