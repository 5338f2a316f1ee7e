//! Mounting and serving: one FUSE session, one worker thread per cloned `/dev/fuse` channel
//! (`FUSE_DEV_IOC_CLONE`), and a clean stop (unmount, wake every worker, join).
//!
//! Lifecycle: `start` mounts and spawns workers (Running); `stop` sets the stop flag and
//! unmounts, which makes the kernel fail every blocked channel read with ENODEV; then it joins
//! the workers (Stopped).

use super::channel::run_channel;
use super::mountpoint;
use super::vfs::{Stats, VprocFs};
use crate::render::load::Sampler;
use crate::render::Renderer;
use fuse_backend_rs::api::server::Server;
use fuse_backend_rs::transport::FuseSession;
use nix::errno::Errno;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// Worker threads, each with its own channel.
    pub threads: usize,
}

impl Config {
    /// How long host files and cgroup values are reused by default.
    pub const DEFAULT_CACHE: std::time::Duration = std::time::Duration::from_millis(100);

    /// Two workers per CPU, between 2 and 16.
    pub fn default_threads() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus * 2).clamp(2, 16)
    }
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mountpoint is unusable.
    #[error(transparent)]
    Mountpoint(#[from] mountpoint::Error),
    /// The FUSE session could not be set up.
    #[error("FUSE: {0}")]
    Fuse(String),
    /// A system call failed.
    #[error("{what}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn sys(what: &'static str) -> impl FnOnce(Errno) -> Error {
    move |e| Error::Sys {
        what,
        source: e.into(),
    }
}

/// A running mount.
pub struct Service {
    session: FuseSession,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    server: Arc<Server<VprocFs>>,
    stats: Arc<Stats>,
    mountpoint: PathBuf,
    _sampler: Sampler,
}

impl Service {
    /// Mounts at `cfg.mountpoint` and starts the workers.
    pub fn start(renderer: Arc<Renderer>, cfg: &Config) -> Result<Service, Error> {
        let mountpoint = mountpoint::prepare(&cfg.mountpoint)?;
        let mut session = FuseSession::new(&mountpoint, "vproc", "vproc", true)
            .map_err(|e| Error::Fuse(e.to_string()))?;
        session.set_allow_other(true);
        session.mount().map_err(|e| Error::Fuse(e.to_string()))?;
        let stats = Arc::new(Stats::default());
        let sampler = Sampler::spawn(renderer.clone(), None).map_err(|source| Error::Sys {
            what: "spawning the load sampler",
            source,
        })?;
        let server = Arc::new(Server::new(VprocFs::new(renderer, stats.clone())));
        let stop = Arc::new(AtomicBool::new(false));
        let mut svc = Service {
            session,
            stop,
            workers: Vec::new(),
            server,
            stats,
            mountpoint,
            _sampler: sampler,
        };
        for i in 0..cfg.threads.max(1) {
            let dev = svc
                .session
                .clone_fuse_file()
                .map_err(|e| Error::Fuse(e.to_string()))?;
            let (server, stop) = (svc.server.clone(), svc.stop.clone());
            let bufsize = svc.session.bufsize();
            let handle = std::thread::Builder::new()
                .name(format!("vproc:fuse-{i}"))
                .spawn(move || run_channel(&server, &dev, &stop, &AtomicUsize::new(0), bufsize))
                .map_err(|source| Error::Sys {
                    what: "spawning a worker thread",
                    source,
                })?;
            svc.workers.push(handle);
        }
        Ok(svc)
    }

    /// Where the views are mounted.
    pub fn mountpoint(&self) -> &std::path::Path {
        &self.mountpoint
    }

    /// Counters of this mount.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Unmounts and joins the workers.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop.store(true, Ordering::Release);
        // Unmounting makes every blocked read return ENODEV.
        let unmounted = self
            .session
            .umount()
            .map_err(|e| Error::Fuse(e.to_string()));
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        unmounted
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("mountpoint", &self.mountpoint)
            .field("workers", &self.workers.len())
            .finish()
    }
}

/// Runs `vproc serve` in the foreground until SIGTERM or SIGINT, then unmounts.
pub fn serve(renderer: Arc<Renderer>, cfg: &Config) -> Result<(), Error> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    // Blocked before any thread starts, so every thread inherits the mask and only the
    // sigwait below receives them.
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(sys("blocking signals"))?;
    let svc = Service::start(renderer, cfg)?;
    tracing::info!(
        mountpoint = %svc.mountpoint().display(),
        workers = cfg.threads,
        "serving proc/{{meminfo,cpuinfo,stat,uptime,loadavg,swaps,diskstats}} and sys/devices/system/cpu/online"
    );
    let sig = signals.wait().map_err(sys("waiting for a signal"))?;
    tracing::info!(signal = ?sig, "unmounting");
    svc.stop()
}
