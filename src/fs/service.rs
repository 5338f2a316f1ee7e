//! Serving in this process: mount both trees, answer them on threads, and stop cleanly
//! (detach the mount, let the channels end, join). `vproc serve` runs the same trees through a
//! supervisor and a worker process instead (`supervisor/`), for restarts without downtime; this
//! is the embedded server of `vproc run` and of tests.
//!
//! Lifecycle: `start` mounts the views tree, starts the threads, then attaches the containers
//! tree inside it (which needs the views tree answering); `stop` detaches the whole mount, which
//! ends every channel, and joins.

use super::mount::{self, NewTree};
use super::registry::Registry;
use super::server::{Channels, Server};
use super::sys::clone_channel;
use super::tree::BY_PID_NAME;
use super::{Error, Stats};
use crate::compose::Composer;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// Threads for the views tree, each with its own channel (the containers tree gets half).
    pub threads: usize,
}

impl Config {
    /// How long host files and cgroup values are reused by default.
    pub const DEFAULT_CACHE: Duration = Duration::from_millis(100);

    /// Two threads per CPU, between 2 and 16.
    pub fn default_threads() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus * 2).clamp(2, 16)
    }

    /// Threads for the containers tree: most of its reads never reach vproc (the page cache
    /// serves them), so half as many, at least 2.
    pub fn container_threads(views_threads: usize) -> usize {
        (views_threads / 2).max(2)
    }
}

/// Both trees' connections, before any worker serves them.
#[derive(Debug)]
pub struct Connections {
    /// The views tree, attached at the mountpoint.
    pub views: File,
    /// The containers tree and its not yet attached mount, if it could be made (Linux 5.2+).
    pub containers: Option<NewTree>,
}

impl Connections {
    /// Mounts the views tree at `mountpoint` (prepared first) and makes the containers tree.
    pub fn mount(mountpoint: &Path) -> Result<Connections, Error> {
        let views = mount::new_tree("vproc").map_err(Error::fuse("creating the views tree"))?;
        mount::attach(&views.mount, mountpoint).map_err(Error::fuse("mounting the views tree"))?;
        let containers = match mount::new_tree("vproc-containers") {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "no containers tree (by-pid): this kernel cannot make detached mounts");
                None
            }
        };
        Ok(Connections {
            views: views.conn,
            containers,
        })
    }

    /// `n` channels of the views tree and `m` of the containers tree.
    pub fn channels(&self, n: usize, m: usize) -> Result<Channels, Error> {
        let clone = |conn: &File, k: usize| {
            (0..k.max(1))
                .map(|_| clone_channel(conn))
                .collect::<std::io::Result<Vec<File>>>()
                .map_err(Error::sys("cloning FUSE channels"))
        };
        Ok(Channels {
            views: clone(&self.views, n)?,
            containers: match &self.containers {
                Some(c) => clone(&c.conn, m)?,
                None => Vec::new(),
            },
        })
    }

    /// Attaches the containers tree at `MOUNTPOINT/by-pid` (the views tree must be answering).
    pub fn attach_containers(&self, mountpoint: &Path) -> Result<(), Error> {
        if let Some(c) = &self.containers {
            mount::attach(&c.mount, &mountpoint.join(BY_PID_NAME))
                .map_err(Error::fuse("mounting the containers tree"))?;
        }
        Ok(())
    }
}

/// A running mount served by this process.
pub struct Service {
    server: Server,
    mountpoint: PathBuf,
}

impl Service {
    /// Mounts at `cfg.mountpoint` and starts the threads.
    pub fn start(composer: Arc<Composer>, cfg: &Config) -> Result<Service, Error> {
        let mountpoint = mount::prepare(&cfg.mountpoint)?;
        let conns = Connections::mount(&mountpoint)?;
        let channels = conns.channels(cfg.threads, Config::container_threads(cfg.threads))?;
        let registry = Arc::new(Registry::new(None, 1));
        let server = Server::start(composer, registry, channels, None, false)
            .map_err(Error::sys("starting the channel threads"))?;
        let svc = Service { server, mountpoint };
        if let Err(e) = conns.attach_containers(&svc.mountpoint) {
            svc.stop_quietly();
            return Err(e);
        }
        Ok(svc)
    }

    /// Where the views are mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Counters of this mount.
    pub fn stats(&self) -> &Arc<Stats> {
        self.server.stats()
    }

    /// Per-reader handles open (for leak checks).
    pub fn open_handles(&self) -> usize {
        self.server.open_handles()
    }

    /// Unmounts and joins the threads.
    pub fn stop(self) -> Result<(), Error> {
        let r = mount::detach(&self.mountpoint).map_err(Error::sys("unmounting"));
        self.server.join(Duration::from_secs(1));
        r
    }

    fn stop_quietly(self) {
        let _ = self.stop();
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("mountpoint", &self.mountpoint)
            .finish_non_exhaustive()
    }
}

/// Runs a [`Service`] in the foreground until SIGTERM or SIGINT, then unmounts.
pub fn serve(composer: Arc<Composer>, cfg: &Config) -> Result<(), Error> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    // Blocked before any thread starts, so every thread inherits the mask and only the
    // sigwait below receives them.
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(|e| Error::sys("blocking signals")(e.into()))?;
    let svc = Service::start(composer, cfg)?;
    tracing::info!(mountpoint = %svc.mountpoint().display(), "serving");
    let sig = signals
        .wait()
        .map_err(|e| Error::sys("waiting for a signal")(e.into()))?;
    tracing::info!(signal = ?sig, "unmounting");
    svc.stop()
}
