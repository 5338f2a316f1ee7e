//! The threads that answer both trees: one per channel, each blocking on its own cloned
//! `/dev/fuse` fd, and the load sampler. Used by the worker process of `vproc serve` and by the
//! in-process [`Service`](super::Service).

use super::channel::{run_channel, End};
use super::ops::{Notifier, TreeKind, TreeOps};
use super::registry::Registry;
use super::report::Sources;
use super::Stats;
use crate::compose::load::Sampler;
use crate::compose::Composer;
use nix::sys::signal::Signal;
use std::fs::File;
use std::os::unix::thread::JoinHandleExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The signal that wakes a channel thread blocked in `read(2)` on `/dev/fuse` (the read fails
/// with EINTR; the thread then sees `stop`). A process that runs a server has this signal's
/// handler replaced by one that does nothing.
pub const WAKE: Signal = Signal::SIGUSR2;

/// Installs [`WAKE`]'s handler, without `SA_RESTART`, so that the interrupted read returns.
fn install_wake_handler() -> nix::Result<()> {
    crate::kernel::syscall::install_noop_handler(WAKE)
}

/// What a server serves.
#[derive(Debug)]
pub struct Channels {
    /// The views tree's channels, one thread each.
    pub views: Vec<File>,
    /// The containers tree's channels (none where that tree could not be mounted).
    pub containers: Vec<File>,
}

/// Running channel threads.
pub struct Server {
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
    views: Arc<TreeOps>,
    containers: Arc<TreeOps>,
    registry: Arc<Registry>,
    composer: Arc<Composer>,
    stats: Arc<Stats>,
    _sampler: Sampler,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts a thread per channel. `registry` names the containers' nodes; `load_state` is
    /// where load averages are saved for a successor.
    ///
    /// With `exit_on_failure` (a worker process), a channel that fails ends the process, so
    /// that its supervisor starts a new worker and has the kernel resend what this one held;
    /// otherwise the failure is only logged.
    pub fn start(
        composer: Arc<Composer>,
        registry: Arc<Registry>,
        channels: Channels,
        load_state: Option<PathBuf>,
        exit_on_failure: bool,
    ) -> std::io::Result<Server> {
        let stats = Arc::new(Stats::default());
        let sampler = Sampler::spawn(composer.clone(), load_state)?;
        let mut views = TreeOps::new(
            TreeKind::Views,
            composer.clone(),
            registry.clone(),
            stats.clone(),
        );
        if let Some(first) = channels.views.first() {
            views = views.with_notifier(Notifier::new(first.try_clone()?));
        }
        let views = Arc::new(views);
        let containers = Arc::new(TreeOps::new(
            TreeKind::Containers,
            composer.clone(),
            registry.clone(),
            stats.clone(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        let all = channels
            .views
            .into_iter()
            .map(|c| (views.clone(), c, "views"))
            .chain(
                channels
                    .containers
                    .into_iter()
                    .map(|c| (containers.clone(), c, "ctrs")),
            );
        for (i, (ops, chan, tree)) in all.enumerate() {
            let (stop, in_flight) = (stop.clone(), in_flight.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("vproc:{tree}-{i}"))
                    .spawn(move || {
                        if run_channel(&ops, &chan, &stop, &in_flight) == End::Failed
                            && exit_on_failure
                        {
                            tracing::error!("a channel failed: this worker exits for a new one");
                            std::process::exit(70);
                        }
                    })?,
            );
        }
        Ok(Server {
            stop,
            in_flight,
            threads,
            views,
            containers,
            registry,
            composer,
            stats,
            _sampler: sampler,
        })
    }

    /// What a status report of this server is made from.
    pub fn report_sources(&self, mountpoint: &std::path::Path, generation: u64) -> Sources {
        Sources {
            stats: self.stats.clone(),
            trees: vec![self.views.clone(), self.containers.clone()],
            registry: self.registry.clone(),
            composer: self.composer.clone(),
            mountpoint: mountpoint.to_owned(),
            generation,
            worker_started: super::supervisor::status::unix_now(),
        }
    }

    /// Counters of this server.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Per-reader handles open in the views tree (for leak checks).
    pub fn open_handles(&self) -> usize {
        self.views.open_handles()
    }

    /// Stops taking requests: every channel thread answers what it holds and ends, and no
    /// thread is left that could take another request from the kernel (waits up to `grace`).
    /// A thread blocked in `read(2)` is woken by [`WAKE`]: a request it took after a plain
    /// "wait until nothing is in flight" would die with the process unanswered, and before
    /// Linux 6.9 (no `FUSE_NOTIFY_RESEND`) its caller would wait forever.
    pub fn quiesce(&self, grace: Duration) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = install_wake_handler() {
            tracing::warn!(error = %e, "installing the wake-up handler; waiting for in-flight requests only");
            let deadline = Instant::now() + grace;
            while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            return;
        }
        let deadline = Instant::now() + grace;
        loop {
            let running: Vec<&JoinHandle<()>> =
                self.threads.iter().filter(|t| !t.is_finished()).collect();
            if running.is_empty() || Instant::now() >= deadline {
                return;
            }
            // Again and again: a signal that lands just before a thread enters read(2) is
            // spent, and that read would block.
            for t in running {
                let _ = nix::sys::pthread::pthread_kill(t.as_pthread_t(), WAKE);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Joins the threads whose channels have ended, waiting up to `grace` for the others.
    pub fn join(mut self, grace: Duration) {
        self.quiesce(grace);
        let deadline = Instant::now() + grace;
        for t in self.threads.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}
