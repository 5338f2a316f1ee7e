//! `vproc serve`'s supervisor: the long-lived process that owns both trees' mounts and
//! `/dev/fuse` connections, and runs a worker process that serves them. Nothing a container
//! reads ever sees the worker change:
//!
//! * **Crash**: when the worker dies, the supervisor asks the kernel to resend the requests it
//!   had taken (`FUSE_NOTIFY_RESEND`, Linux 6.9+; older kernels: the channels are renewed, so
//!   those requests fail fast instead of hanging) and starts a new worker on the same channels.
//! * **Upgrade** (SIGHUP, `vproc upgrade`): the binary on disk is asked whether it reads this
//!   version's hand-over ([`handover::Probe`]; the supervisor keeps reaping and restarting
//!   workers while it waits for the answer); if it does, the supervisor `exec`s it with the
//!   connections, the channels and the running worker. The new supervisor starts a new worker
//!   and, once it is ready, stops the old one between requests: both serve in the overlap, so
//!   there is no gap. If the new binary cannot take over, the running one keeps serving.
//! * **systemd** (`NOTIFY_SOCKET`): the connections go to the service manager's fd store, and
//!   a restarted service takes them back (`LISTEN_FDS`), so `systemctl restart` and a crash of
//!   the whole service keep the mounts alive; while no instance runs, readers wait.
//!
//! Life cycle ([`State`]), one transition logged per change:
//!
//! ```text
//! Starting --mounted, or connections adopted--> Running
//! Running  --worker died--------------------> Restarting --new worker ready--> Running
//! Running  --SIGHUP--> Upgrading (probing) --answered, exec--> (the new binary: Starting, adopting)
//!                                 --refused, no answer in time or exec failed--> Running
//! Running  --SIGTERM/SIGINT--> Stopping (worker stopped; unmounted unless systemd holds the
//!                               connections) --> exit
//! ```

pub mod handover;
pub mod status;
pub mod systemd;
pub mod takeover;
mod workers;

pub use status::{status_path, Status};

use super::mount;
use super::service::{Config, Connections};
use super::sys::{adopt_fuse_fd, clone_channel, set_cloexec};
use super::wire::reply::{send, Reply};
use super::Error;
use handover::Handover;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Set (to anything) in `vproc serve`'s environment, the supervisor behaves as on a kernel
/// without `FUSE_NOTIFY_RESEND` (before 6.9) on any kernel: for tests of that path.
pub const NO_RESEND_ENV: &str = "VPROC_NO_RESEND";

/// The daemon's settings, passed on to every worker and to an upgraded supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where the views are mounted.
    pub mountpoint: PathBuf,
    /// Threads of the views tree, one channel each.
    pub threads: usize,
    /// Judge readers by their own cgroup.
    pub per_caller: bool,
    /// Cache lifetime in milliseconds.
    pub cache_ms: u64,
    /// A TCP address to serve `/metrics` on, besides the control socket.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// After mounting afresh, rebind the views of containers whose views died with an
    /// earlier daemon (`vproc repair-views`, in a process of its own: it enters their mount
    /// namespaces, which a threaded process cannot).
    pub repair_containers: bool,
}

impl Options {
    /// The view options as command-line flags (for workers).
    fn view_args(&self) -> Vec<String> {
        let mut a = vec![
            "--threads".to_owned(),
            self.threads.to_string(),
            "--cache-ms".to_owned(),
            self.cache_ms.to_string(),
        ];
        if self.per_caller {
            a.push("--per-caller".to_owned());
        }
        if let Some(addr) = self.metrics_addr {
            a.push("--metrics-addr".to_owned());
            a.push(addr.to_string());
        }
        a
    }
}

/// The supervisor's life cycle (see the module documentation for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Mounting, or adopting a predecessor's connections.
    Starting,
    /// A worker serves.
    Running,
    /// The worker died; a new one is being started on the same channels.
    Restarting,
    /// A new binary is being asked whether it can take over (workers are still reaped and
    /// restarted meanwhile), then exec'd.
    Upgrading,
    /// Stopping the worker and (unless systemd keeps them) unmounting.
    Stopping,
    /// Another daemon took the connections over (a DaemonSet's new pod): this one has no
    /// worker and waits to be stopped, which then leaves the mounts to the other.
    HandedOver,
}

/// Where a starting supervisor's connections come from, when it does not mount them.
#[derive(Debug)]
pub enum Predecessor {
    /// The binary that exec'd this one (an upgrade), with its running worker.
    Exec(Handover),
    /// A running daemon that handed its connections over (`--take-over`); it is told `ok`
    /// once this one's worker serves.
    Peer(Handover, takeover::Request),
}

struct Supervisor {
    opts: Options,
    state: State,
    views_conn: File,
    views_channels: Vec<File>,
    containers_conn: Option<File>,
    containers_channels: Vec<File>,
    worker: Pid,
    generation: u64,
    /// systemd holds the connections: stopping must not unmount.
    fd_store: bool,
    /// When the daemon started (seconds since the epoch), kept across upgrades.
    started: u64,
    /// Workers restarted after one died.
    crashes: u64,
    /// Upgrades this daemon went through.
    upgrades: u64,
    /// Service restarts through systemd's fd store.
    restarts: u64,
    /// Upgrades refused.
    refusals: u64,
    /// An upgrade's question to the binary on disk, while it is unanswered.
    probe: Option<handover::Probe>,
}

/// Runs the supervisor until SIGTERM or SIGINT, from the connections of `from` if given.
pub fn run(opts: Options, from: Option<Predecessor>) -> Result<(), Error> {
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
        Signal::SIGUSR1,
    ] {
        signals.add(s);
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(|e| Error::sys("blocking signals")(e.into()))?;
    let mut sv = match from {
        None => Supervisor::mount(opts)?,
        Some(Predecessor::Exec(h)) => Supervisor::take_over(opts, h)?,
        Some(Predecessor::Peer(h, request)) => {
            let sv = Supervisor::take_over(opts, h)?;
            sv.write_status();
            request.confirm()?;
            tracing::info!("took the connections over from the running daemon");
            sv
        }
    };
    sv.write_status();
    loop {
        let sig = match sv.probe.as_ref().map(handover::Probe::deadline) {
            Some(deadline) => super::sys::wait_signal(
                &signals,
                deadline.saturating_duration_since(Instant::now()),
            )
            .map_err(Error::sys("waiting for a signal"))?,
            None => Some(
                signals
                    .wait()
                    .map_err(|e| Error::sys("waiting for a signal")(e.into()))?,
            ),
        };
        let Some(sig) = sig else {
            sv.probe_overdue();
            continue;
        };
        match (sig, sv.state) {
            (Signal::SIGCHLD, State::HandedOver) => sv.reap_any(),
            (Signal::SIGCHLD, _) => sv.reap(),
            (Signal::SIGHUP | Signal::SIGUSR1, State::HandedOver) => {}
            (Signal::SIGHUP, _) => sv.upgrade(),
            (Signal::SIGUSR1, _) => sv.hand_over(),
            (_, State::HandedOver) => {
                tracing::info!(signal = ?sig, "stopping; the mounts stay with the daemon that took them over");
                return Ok(());
            }
            _ => return sv.stop(sig),
        }
    }
}

/// Makes sure this process sees cgroups as the host does. A daemon started in a private cgroup
/// namespace (Docker and podman containers on cgroup v2 get one by default, and so do
/// Kubernetes pods) reads every reader's `/proc/<pid>/cgroup` relative to its own namespace and
/// would serve host values to everyone: so it joins the host's, and refuses to start if it
/// cannot, naming the fix. The host's namespace is kthreadd's (pid 2 in the host's pid
/// namespace; kernel threads never leave the initial namespaces), else pid 1's: pid 1 may be a
/// process that hides its namespaces (not dumpable), kthreadd never does. Call it before any
/// thread starts.
pub fn join_host_cgroup_namespace() -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let own = ino("/proc/self/ns/cgroup").map_err(Error::sys("reading /proc/self/ns/cgroup"))?;
    let kthreadd = std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd");
    let host_path = if kthreadd {
        "/proc/2/ns/cgroup"
    } else {
        "/proc/1/ns/cgroup"
    };
    let host = ino(host_path).map_err(|e| Error::Sys {
        what: "vproc serve cannot read the host's cgroup namespace (it needs CAP_SYS_PTRACE to read another process's namespaces: run it privileged)",
        source: e,
    })?;
    if own == host {
        return Ok(());
    }
    let joined = std::fs::File::open(host_path).and_then(|f| {
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWCGROUP).map_err(std::io::Error::from)
    });
    match joined {
        Ok(()) => {
            tracing::warn!(
                "started in a private cgroup namespace: joined the host's (run vproc with the host's cgroup namespace to skip this: docker --cgroupns=host)"
            );
            Ok(())
        }
        Err(source) => Err(Error::Sys {
            what: "vproc serve runs in a private cgroup namespace and cannot join the host's, so it would see every container's cgroup wrongly; run it with the host's cgroup namespace (docker --cgroupns=host, or as a privileged pod: nsenter -t 1 -C vproc serve)",
            source,
        }),
    }
}

fn adopt(fd: RawFd) -> Result<File, Error> {
    #[allow(unsafe_code)]
    // SAFETY: a predecessor passed these fds to this process by exec, and nothing else here
    // owns them; adopt_fuse_fd checks that each is /dev/fuse.
    let f = unsafe { adopt_fuse_fd(fd) }
        .map_err(Error::sys("adopting the predecessor's FUSE connections"))?;
    // Inherited fds stay with this process: only a worker's spawn and an upgrade's exec pass
    // them on, each for its own moment (see `Supervisor::passing`).
    set_cloexec(&f, true).map_err(Error::sys("adopting the predecessor's FUSE connections"))?;
    Ok(f)
}

fn clone_n(conn: &File, n: usize) -> Result<Vec<File>, Error> {
    (0..n.max(1))
        .map(|_| clone_channel(conn))
        .collect::<std::io::Result<Vec<File>>>()
        .map_err(Error::sys("cloning FUSE channels"))
}

impl Supervisor {
    fn set(&mut self, state: State) {
        if self.state != state {
            tracing::debug!(from = ?self.state, to = ?state, "supervisor state");
            self.state = state;
        }
    }

    fn mount(opts: Options) -> Result<Self, Error> {
        let threads = opts.threads;
        let ctr_threads = Config::container_threads(threads);
        let mut old_channels = Vec::new();
        let (views_conn, containers, fd_store, fresh) = match systemd::listen_fds() {
            Some(stored) => {
                tracing::info!(mountpoint = %opts.mountpoint.display(), "took the FUSE connections back from systemd's fd store");
                old_channels.extend(stored.views_channels);
                old_channels.extend(stored.containers_channels);
                let containers = stored.containers.map(|c| (c, None));
                (stored.views, containers, true, false)
            }
            None => {
                let mountpoint = mount::prepare(&opts.mountpoint)?;
                // A new connection: no node of an earlier one can be asked for.
                status::remove_all(&mountpoint);
                let conns = Connections::mount(&mountpoint)?;
                let containers = conns.containers.map(|t| (t.conn, Some(t.mount)));
                (conns.views, containers, systemd::managed(), true)
            }
        };
        let views_channels = clone_n(&views_conn, threads)?;
        let (containers_conn, pending_mount, containers_channels) = match containers {
            Some((conn, m)) => {
                let ch = clone_n(&conn, ctr_threads)?;
                (Some(conn), m, ch)
            }
            None => (None, None, Vec::new()),
        };
        let mut sv = Supervisor {
            opts,
            state: State::Starting,
            views_conn,
            views_channels,
            containers_conn,
            containers_channels,
            worker: Pid::from_raw(0),
            generation: 0,
            fd_store,
            started: status::unix_now(),
            crashes: 0,
            upgrades: 0,
            restarts: 0,
            refusals: 0,
            probe: None,
        };
        if !fresh {
            // The previous instance's history: a clean stop left pid 0, a crash its own pid.
            if let Some(h) = Status::history(&sv.opts.mountpoint) {
                sv.started = if h.started > 0 { h.started } else { sv.started };
                sv.upgrades = h.upgrades;
                sv.restarts = h.restarts + u64::from(h.supervisor == 0);
                sv.crashes = h.crashes + u64::from(h.supervisor != 0);
                sv.refusals = h.refusals;
            }
        }
        if !old_channels.is_empty() {
            // Requests the previous instance's worker had taken when the service died are
            // still on its channels: queue them again for the new worker, then let the old
            // channels go (closing them aborts whatever a resend could not move).
            if !sv.resend() {
                tracing::warn!("FUSE_NOTIFY_RESEND failed (kernel older than 6.9?): requests the previous instance held end with ECONNABORTED");
            }
            drop(old_channels);
        }
        // Stored before a worker reads from them: a crash from now on loses no request.
        if sv.fd_store {
            sv.store_fds();
        }
        sv.worker = sv.spawn_worker(1)?;
        sv.generation = 1;
        // The containers tree sits inside the views tree: attached once a worker answers.
        if let Some(m) = pending_mount {
            sv.attach_containers_tree(m);
        }
        if fresh || sv.fd_store {
            if let Err(e) = systemd::ready() {
                tracing::warn!(error = %e, "notifying systemd");
            }
        }
        if fresh {
            // Which connections this source served: `remount --all` repairs views of these.
            if let Err(e) = vproc_mount::devices::record(&sv.opts.mountpoint) {
                tracing::warn!(error = %e, "recording the mount's devices");
            }
        }
        if fresh && sv.opts.repair_containers {
            sv.repair_containers();
        }
        sv.set(State::Running);
        tracing::info!(
            mountpoint = %sv.opts.mountpoint.display(),
            worker = sv.worker.as_raw(),
            views = %crate::views::ViewId::names(),
            "serving"
        );
        Ok(sv)
    }

    fn take_over(opts: Options, h: Handover) -> Result<Self, Error> {
        let views_conn = adopt(h.views_conn)?;
        let views_channels = h
            .views_channels
            .iter()
            .map(|&fd| adopt(fd))
            .collect::<Result<Vec<_>, _>>()?;
        let containers_conn = h.containers_conn.map(adopt).transpose()?;
        let containers_channels = h
            .containers_channels
            .iter()
            .map(|&fd| adopt(fd))
            .collect::<Result<Vec<_>, _>>()?;
        // The predecessor's record (it exec'd into this process) carries the daemon's history.
        let before = Status::read(&opts.mountpoint);
        let mut sv = Supervisor {
            opts,
            state: State::Starting,
            views_conn,
            views_channels,
            containers_conn,
            containers_channels,
            worker: Pid::from_raw(h.worker),
            generation: h.generation,
            fd_store: systemd::managed(),
            started: before
                .map(|b| b.started)
                .filter(|&s| s > 0)
                .unwrap_or_else(status::unix_now),
            crashes: before.map_or(0, |b| b.crashes),
            upgrades: before.map_or(0, |b| b.upgrades) + 1,
            restarts: before.map_or(0, |b| b.restarts),
            refusals: before.map_or(0, |b| b.refusals),
            probe: None,
        };
        if !sv.replace_worker("upgrade") {
            // The new binary runs the supervisor, but the old worker still serves: the upgrade
            // did not complete, and `vproc upgrade` must hear so.
            sv.refusals += 1;
            sv.write_status();
        }
        // An older predecessor had no containers tree: make one now that a worker answers.
        if sv.containers_conn.is_none() {
            sv.add_containers_tree();
        }
        sv.set(State::Running);
        Ok(sv)
    }

    /// Mounts a containers tree next to a running views tree (after an upgrade from a version
    /// without one).
    fn add_containers_tree(&mut self) {
        let made = mount::new_tree("vproc-containers").and_then(|t| {
            let ch = (0..Config::container_threads(self.opts.threads))
                .map(|_| clone_channel(&t.conn))
                .collect::<std::io::Result<Vec<File>>>()?;
            Ok((t, ch))
        });
        match made {
            Ok((t, ch)) => {
                self.containers_conn = Some(t.conn);
                self.containers_channels = ch;
                self.replace_worker("containers tree added");
                self.attach_containers_tree(t.mount);
            }
            Err(e) => tracing::warn!(error = %e, "no containers tree (by-pid)"),
        }
    }

    /// Mounts the containers tree at `by-pid` inside the views tree. The path walk to it asks
    /// the worker (FUSE lookups), so it runs on its own thread: were the worker to fail
    /// meanwhile, this process must still reap it and start another, which then answers.
    /// Waits up to 10 s, so that a start is reported ready with `by-pid` in place.
    fn attach_containers_tree(&self, tree: std::os::fd::OwnedFd) {
        let target = self.opts.mountpoint.join(super::tree::BY_PID_NAME);
        let (done, wait) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("vproc:attach".into())
            .spawn(move || {
                let r = mount::attach(&tree, &target);
                if let Err(e) = &r {
                    tracing::warn!(error = %e, "mounting the containers tree (by-pid); serving without it");
                }
                let _ = done.send(r.is_ok());
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "mounting the containers tree (by-pid): no thread");
            return;
        }
        if wait.recv_timeout(Duration::from_secs(10)).is_err() {
            tracing::warn!("mounting the containers tree (by-pid) waits on the worker; it completes in the background");
        }
    }

    fn spawn_worker(&self, generation: u64) -> Result<Pid, Error> {
        let channels: Vec<&File> = self
            .views_channels
            .iter()
            .chain(&self.containers_channels)
            .collect();
        self.passing(&channels, || {
            workers::spawn(
                &self.opts,
                workers::WorkerFds {
                    views: &self.views_channels,
                    containers: &self.containers_channels,
                },
                generation,
            )
        })
    }

    /// Runs `f` with `fds` inheritable: the connections and channels are close-on-exec
    /// otherwise, so no other child (`repair-views`, a hook) holds a connection open after
    /// this daemon is gone, which would leave readers waiting instead of failing.
    fn passing<T>(&self, fds: &[&File], f: impl FnOnce() -> T) -> T {
        for fd in fds {
            if let Err(e) = set_cloexec(*fd, false) {
                tracing::warn!(error = %e, "passing an fd on");
            }
        }
        let r = f();
        for fd in fds {
            let _ = set_cloexec(*fd, true);
        }
        r
    }

    /// Every connection and channel.
    fn all_fds(&self) -> Vec<&File> {
        std::iter::once(&self.views_conn)
            .chain(&self.views_channels)
            .chain(&self.containers_conn)
            .chain(&self.containers_channels)
            .collect()
    }

    /// Starts a new worker, then stops the old one between requests; `false` if the new one
    /// did not start (the old one keeps serving).
    fn replace_worker(&mut self, why: &str) -> bool {
        match self.spawn_worker(self.generation + 1) {
            Ok(new) => {
                let old = std::mem::replace(&mut self.worker, new);
                self.generation += 1;
                workers::stop(old);
                // Anything the old worker had taken and not answered is queued again.
                self.resend();
                tracing::info!(
                    generation = self.generation,
                    worker = new.as_raw(),
                    reason = why,
                    "new worker serving"
                );
                self.write_status();
                true
            }
            Err(e) => {
                tracing::error!(error = %e, reason = why, "new worker failed; the old one keeps serving");
                false
            }
        }
    }

    /// `FUSE_NOTIFY_RESEND` on both connections; `false` if the kernel refused it (or
    /// [`NO_RESEND_ENV`] is set).
    fn resend(&self) -> bool {
        // What kernels before 6.9 do, on any kernel: the tests' way to check those.
        if std::env::var_os(NO_RESEND_ENV).is_some() {
            return false;
        }
        let mut r = Reply::new();
        let mut ok = true;
        for conn in std::iter::once(&self.views_conn).chain(self.containers_conn.as_ref()) {
            if let Err(e) = send(conn, r.resend()) {
                tracing::debug!(error = %e, "FUSE_NOTIFY_RESEND not supported");
                ok = false;
            }
        }
        ok
    }

    fn reap(&mut self) {
        let mut answered = None;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(st)
                    if self
                        .probe
                        .as_ref()
                        .is_some_and(|p| st.pid() == Some(p.pid())) =>
                {
                    answered = self.probe.take();
                }
                Ok(st) if st.pid() == Some(self.worker) => {
                    self.set(State::Restarting);
                    tracing::warn!(status = ?st, "worker died; starting a new one");
                    // Requests it had taken are queued again before the new worker reads.
                    if !self.resend() {
                        tracing::warn!("FUSE_NOTIFY_RESEND failed (kernel older than 6.9?): the requests the dead worker held fail with ECONNABORTED");
                        self.renew_channels();
                    }
                    self.respawn();
                    self.settle();
                }
                Ok(_) => {}
            }
        }
        if let Some(probe) = answered {
            self.probe_answered(probe);
        }
    }

    /// Back to [`State::Running`], or to [`State::Upgrading`] while a probe is out.
    fn settle(&mut self) {
        self.set(if self.probe.is_some() {
            State::Upgrading
        } else {
            State::Running
        });
    }

    /// Drops an unanswered probe (hand-over or stop came first).
    fn cancel_probe(&mut self, why: &str) {
        if let Some(p) = self.probe.take() {
            let exe = p.exe().display().to_string();
            p.abandon();
            tracing::warn!(binary = %exe, reason = why, "upgrade cancelled");
        }
    }

    /// The wait for a signal timed out (or was interrupted): gives up on a probe past its
    /// deadline.
    fn probe_overdue(&mut self) {
        if self
            .probe
            .as_ref()
            .is_some_and(|p| p.deadline() <= Instant::now())
        {
            if let Some(p) = self.probe.take() {
                self.refuse(&p.abandon());
            }
        }
    }

    /// An upgrade that did not happen: said in the log, and counted in the status file, where
    /// `vproc upgrade` sees it and stops waiting.
    fn refuse(&mut self, why: &dyn std::fmt::Display) {
        tracing::error!(error = %why, "upgrade refused: the running version keeps serving");
        self.refusals += 1;
        self.write_status();
        self.settle();
    }

    /// Replaces the channels with fresh clones. Closing the old ones (the dead worker's copies
    /// are gone) makes the kernel end the requests still held on them with ECONNABORTED,
    /// instead of leaving their callers waiting forever.
    fn renew_channels(&mut self) {
        match clone_n(&self.views_conn, self.views_channels.len()) {
            Ok(f) => self.views_channels = f,
            Err(e) => tracing::error!(error = %e, "cloning fresh channels; keeping the old ones"),
        }
        if let Some(c) = &self.containers_conn {
            match clone_n(c, self.containers_channels.len()) {
                Ok(f) => self.containers_channels = f,
                Err(e) => {
                    tracing::error!(error = %e, "cloning fresh channels; keeping the old ones")
                }
            }
        }
        // The store's copies of the old channels would keep their requests waiting.
        if self.fd_store {
            self.store_fds();
        }
    }

    fn respawn(&mut self) {
        let mut delay = Duration::from_millis(10);
        loop {
            match self.spawn_worker(self.generation + 1) {
                Ok(pid) => {
                    self.worker = pid;
                    self.generation += 1;
                    self.crashes += 1;
                    self.write_status();
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "starting a worker failed; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Starts `vproc repair-views` for this mountpoint; it is reaped with the other children.
    fn repair_containers(&self) {
        let r = std::process::Command::new("/proc/self/exe")
            .arg("repair-views")
            .arg("--source")
            .arg(&self.opts.mountpoint)
            .spawn();
        match r {
            Ok(child) => tracing::info!(pid = child.id(), "repairing running containers' views"),
            Err(e) => tracing::warn!(error = %e, "repairing running containers' views"),
        }
    }

    /// Reaps children without acting on them (nothing is restarted once handed over).
    fn reap_any(&mut self) {
        while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            if st == WaitStatus::StillAlive {
                return;
            }
        }
    }

    /// The hand-over this supervisor would pass on, its fds by their numbers here.
    fn handover(&self, worker: Pid) -> Handover {
        Handover {
            version: handover::VERSION,
            mountpoint: self.opts.mountpoint.clone(),
            views_conn: self.views_conn.as_raw_fd(),
            views_channels: self.views_channels.iter().map(|c| c.as_raw_fd()).collect(),
            containers_conn: self.containers_conn.as_ref().map(|c| c.as_raw_fd()),
            containers_channels: self
                .containers_channels
                .iter()
                .map(|c| c.as_raw_fd())
                .collect(),
            worker: worker.as_raw(),
            generation: self.generation,
            threads: self.opts.threads,
            cache_ms: self.opts.cache_ms,
            per_caller: self.opts.per_caller,
            metrics_addr: self.opts.metrics_addr,
        }
    }

    /// SIGUSR1: a newcomer (`vproc serve --take-over`) asks for the connections. They are
    /// sent; once it answers `ok` (its worker serves), this worker stops between requests and
    /// what it held is resent, and this process stands by without unmounting.
    fn hand_over(&mut self) {
        self.cancel_probe("another daemon asked for the connections");
        // The newcomer starts its own worker: this one is not its child.
        let h = self.handover(Pid::from_raw(0));
        let answer = takeover::offer(&self.opts.mountpoint, &h)
            .map(|s| takeover::wait_ok(s, Duration::from_secs(30)));
        match answer {
            Ok(true) => {
                workers::stop(self.worker);
                self.resend();
                self.worker = Pid::from_raw(0);
                self.set(State::HandedOver);
                tracing::info!("handed the connections over; standing by until stopped");
            }
            Ok(false) => {
                tracing::warn!("the newcomer did not confirm the hand-over; still serving")
            }
            Err(e) => tracing::warn!(error = %e, "hand-over request failed; still serving"),
        }
    }

    /// SIGHUP: asks the binary now on disk whether it can take over ([`handover::Probe`]); its
    /// answer comes with its exit ([`Self::reap`]), and the exec follows there.
    fn upgrade(&mut self) {
        if self.probe.is_some() {
            tracing::info!("upgrade: already asking the binary on disk; this request joins it");
            return;
        }
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                self.refuse(&format_args!("cannot find the binary on disk: {e}"));
                return;
            }
        };
        // A deleted binary's path ends in " (deleted)"; the replacement is at the plain path.
        let exe = PathBuf::from(
            exe.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned(),
        );
        match handover::Probe::start(&exe, handover::PROBE_TIMEOUT) {
            Ok(p) => {
                tracing::info!(binary = %exe.display(), "upgrade: asking the binary on disk which hand-over versions it reads");
                self.probe = Some(p);
                self.set(State::Upgrading);
            }
            Err(refusal) => self.refuse(&refusal),
        }
    }

    /// The probe's process exited: exec the binary if it reads this version's hand-over.
    fn probe_answered(&mut self, probe: handover::Probe) {
        let exe = probe.exe().to_owned();
        match probe.verdict() {
            Ok(()) => {
                let failed = self.exec_successor(&exe);
                self.refuse(&failed);
            }
            Err(refusal) => self.refuse(&refusal),
        }
    }

    /// Execs `exe`, which takes over the connections and this worker; returns only if that
    /// failed, with why.
    fn exec_successor(&self, exe: &std::path::Path) -> String {
        let h = self.handover(self.worker);
        let memfd = match h.to_memfd().and_then(|f| {
            handover::inheritable(&f).map_err(|e| handover::Error::Io(e.to_string()))?;
            Ok(f)
        }) {
            Ok(f) => f,
            Err(e) => return format!("writing the hand-over: {e}"),
        };
        std::env::set_var(handover::ENV, memfd.as_raw_fd().to_string());
        let args: Vec<std::ffi::CString> = [
            exe.to_string_lossy().into_owned(),
            "serve".to_owned(),
            self.opts.mountpoint.to_string_lossy().into_owned(),
        ]
        .iter()
        .filter_map(|a| std::ffi::CString::new(a.as_bytes()).ok())
        .collect();
        let cexe = std::ffi::CString::new(exe.to_string_lossy().as_bytes()).unwrap_or_default();
        tracing::info!(binary = %exe.display(), "upgrading: exec");
        // The signal mask survives exec; the new supervisor blocks the same set.
        let err = self.passing(&self.all_fds(), || {
            nix::unistd::execv(&cexe, &args).unwrap_err()
        });
        std::env::remove_var(handover::ENV);
        format!("exec {}: {err}", exe.display())
    }

    fn stop(mut self, sig: Signal) -> Result<(), Error> {
        self.cancel_probe("stopping");
        self.set(State::Stopping);
        tracing::info!(signal = ?sig, "stopping");
        workers::stop(self.worker);
        if self.fd_store {
            // systemd holds the connections for the next instance: leave the mounts in place,
            // and the container slots, load averages and history for it to continue with.
            self.worker = Pid::from_raw(0);
            self.write_status_as(0);
            // A request the worker took just before it exited sits on a channel this process is
            // about to close, which would abort it: queue it again for the successor.
            self.resend();
            return Ok(());
        }
        status::remove_all(&self.opts.mountpoint);
        let devices = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|mi| vproc_mount::devices::current(&mi, &self.opts.mountpoint))
            .unwrap_or_default();
        mount::detach(&self.opts.mountpoint).map_err(Error::sys("unmounting"))?;
        self.release_host_mounts(&devices);
        Ok(())
    }

    /// Detaches the host namespace's copies of this daemon's mounts too, where they are not
    /// this namespace's own (see [`mount::release_in_host_namespace`]), in a process of its
    /// own: `vproc release-mounts`.
    fn release_host_mounts(&self, devices: &[String]) {
        let own = std::fs::read_link("/proc/self/ns/mnt").ok();
        let host = ["/proc/2/ns/mnt", "/proc/1/ns/mnt"]
            .iter()
            .find_map(|p| std::fs::read_link(p).ok());
        if devices.is_empty() || own.is_none() || own == host {
            return;
        }
        let mut cmd = std::process::Command::new("/proc/self/exe");
        cmd.arg("release-mounts");
        for d in devices {
            cmd.args(["--device", d]);
        }
        match cmd.status() {
            Ok(st) if st.success() => {}
            Ok(st) => tracing::warn!(status = %st, "releasing the host's copies of the mounts"),
            Err(e) => tracing::warn!(error = %e, "releasing the host's copies of the mounts"),
        }
    }

    fn write_status(&self) {
        self.write_status_as(std::process::id() as i32);
    }

    fn write_status_as(&self, supervisor: i32) {
        Status {
            supervisor,
            worker: self.worker.as_raw(),
            generation: self.generation,
            started: self.started,
            crashes: self.crashes,
            upgrades: self.upgrades,
            restarts: self.restarts,
            refusals: self.refusals,
        }
        .write(&self.opts.mountpoint);
    }

    /// Gives the connections and the current channels to systemd's fd store (the channels
    /// stored before are removed first: they are closed or about to be).
    fn store_fds(&self) {
        let mut r = systemd::remove(systemd::VIEWS_CHANNEL_NAME)
            .and(systemd::remove(systemd::CONTAINERS_CHANNEL_NAME))
            .and(systemd::store(&self.views_conn, systemd::VIEWS_NAME));
        if let Some(c) = &self.containers_conn {
            r = r.and(systemd::store(c, systemd::CONTAINERS_NAME));
        }
        for c in &self.views_channels {
            r = r.and(systemd::store(c, systemd::VIEWS_CHANNEL_NAME));
        }
        for c in &self.containers_channels {
            r = r.and(systemd::store(c, systemd::CONTAINERS_CHANNEL_NAME));
        }
        if let Err(e) = r {
            tracing::warn!(error = %e, "storing the connections in systemd's fd store");
        }
    }
}
