//! `vproc serve`'s supervisor: the long-lived process that owns the mount and the `/dev/fuse`
//! connection, and runs a worker process that serves it. Nothing a container reads ever sees a
//! restart of the worker:
//!
//! * **Crash**: when the worker dies, the supervisor asks the kernel to resend the requests it
//!   had taken (`FUSE_NOTIFY_RESEND`, Linux 6.9+) and starts a new worker on the same channels.
//!   Callers wait for the new worker (tens of milliseconds); none gets an error.
//! * **Upgrade** (SIGHUP, or `vproc upgrade`): the supervisor `exec`s the binary now on disk,
//!   passing the connection, the channels and the running worker. The new supervisor starts a
//!   new worker and, once it is ready, stops the old one between requests. Both serve in the
//!   overlap, so there is no gap; if the new binary cannot start, the old one keeps serving.
//! * **systemd** (`NOTIFY_SOCKET`): the connection is given to the service manager's fd store
//!   (`FDSTORE=1`), and a restarted service takes it back (`LISTEN_FDS`), so `systemctl
//!   restart` and a crash of the whole service keep the mount alive; while no instance runs,
//!   callers wait.
//!
//! Lifecycle: Starting (mount, or adopt the connection) -> Running (worker ready) -> on SIGHUP
//! exec (Running again in the new binary) / on worker death Restarting -> Running / on SIGTERM
//! Stopping (worker stopped; unmounted unless systemd holds the connection) -> exit.

use super::mountpoint;
use super::service::{sys, Error};
use super::takeover::{self, adopt_fuse_fd, clone_channel, inheritable};
use fuse_backend_rs::transport::FuseSession;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The daemon's settings, passed on to every worker and to an upgraded supervisor.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the views are mounted.
    pub mountpoint: PathBuf,
    /// Channels, one thread each.
    pub threads: usize,
    /// Judge readers by their own cgroup.
    pub per_caller: bool,
    /// Cache lifetime in milliseconds.
    pub cache_ms: u64,
}

impl Options {
    /// The command-line options a worker or successor gets.
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--threads".to_owned(),
            self.threads.to_string(),
            "--cache-ms".to_owned(),
            self.cache_ms.to_string(),
        ];
        if self.per_caller {
            a.push("--per-caller".to_owned());
        }
        a
    }
}

/// How a supervisor gets its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Mount afresh (or from systemd's fd store when `LISTEN_FDS` names this process).
    Mount,
    /// From a predecessor that exec'd this binary: the connection, the channels, the worker
    /// still serving, and its generation.
    Takeover {
        /// The connection fd.
        conn: RawFd,
        /// One channel fd per thread.
        channels: Vec<RawFd>,
        /// The predecessor's worker.
        worker: i32,
        /// Its generation.
        generation: u64,
    },
}

/// Where the supervisor records its pid, its worker's pid and the generation, for `vproc
/// upgrade` and for tests.
pub fn status_path(mountpoint: &Path) -> PathBuf {
    let name: String = mountpoint
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("/run/vproc/serve").join(format!("{name}.status"))
}

/// The recorded state of a running supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The supervisor's pid.
    pub supervisor: i32,
    /// The current worker's pid.
    pub worker: i32,
    /// How many workers have been started (1 for the first).
    pub generation: u64,
}

impl Status {
    /// Reads the status file of the daemon serving `mountpoint`.
    pub fn read(mountpoint: &Path) -> Option<Status> {
        let text = std::fs::read_to_string(status_path(mountpoint)).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        Some(Status {
            supervisor: i32::try_from(field("supervisor ")?).ok()?,
            worker: i32::try_from(field("worker ")?).ok()?,
            generation: u64::try_from(field("generation ")?).ok()?,
        })
    }
}

struct Supervisor {
    opts: Options,
    exe: PathBuf,
    conn: File,
    channels: Vec<File>,
    session: Option<FuseSession>,
    worker: Pid,
    generation: u64,
    /// systemd holds the connection: stopping must not unmount.
    fd_store: bool,
}

/// Runs the supervisor until SIGTERM or SIGINT.
pub fn run(opts: Options, start: Start) -> Result<(), Error> {
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        signals.add(s);
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(sys("blocking signals"))?;
    let exe = std::env::current_exe().map_err(|source| Error::Sys {
        what: "finding this binary",
        source,
    })?;
    let mut sv = match start {
        Start::Mount => Supervisor::mount(opts, exe)?,
        Start::Takeover {
            conn,
            channels,
            worker,
            generation,
        } => Supervisor::take_over(
            opts,
            exe,
            conn,
            &channels,
            Pid::from_raw(worker),
            generation,
        )?,
    };
    sv.write_status();
    loop {
        let sig = signals.wait().map_err(sys("waiting for a signal"))?;
        match sig {
            Signal::SIGCHLD => sv.reap(),
            Signal::SIGHUP => sv.upgrade(),
            _ => return sv.stop(sig),
        }
    }
}

impl Supervisor {
    fn mount(opts: Options, exe: PathBuf) -> Result<Self, Error> {
        let (conn, session, fd_store) = match systemd_listen_fd() {
            Some(fd) => {
                tracing::info!(mountpoint = %opts.mountpoint.display(), "took the FUSE connection back from systemd's fd store");
                (fd, None, true)
            }
            None => {
                let mountpoint = mountpoint::prepare(&opts.mountpoint)?;
                let mut session = FuseSession::new(&mountpoint, "vproc", "vproc", true)
                    .map_err(|e| Error::Fuse(e.to_string()))?;
                session.set_allow_other(true);
                session.mount().map_err(|e| Error::Fuse(e.to_string()))?;
                let conn = session
                    .get_fuse_file()
                    .ok_or_else(|| Error::Fuse("no connection after mount".into()))?
                    .try_clone()
                    .map_err(|source| Error::Sys {
                        what: "duplicating the FUSE connection",
                        source,
                    })?;
                (
                    conn,
                    Some(session),
                    std::env::var_os("NOTIFY_SOCKET").is_some(),
                )
            }
        };
        inheritable(&conn).map_err(|source| Error::Sys {
            what: "keeping the connection across exec",
            source,
        })?;
        let channels = (0..opts.threads.max(1))
            .map(|_| {
                let c = clone_channel(&conn)?;
                inheritable(&c)?;
                Ok(c)
            })
            .collect::<std::io::Result<Vec<File>>>()
            .map_err(|source| Error::Sys {
                what: "cloning FUSE channels",
                source,
            })?;
        let mut sv = Supervisor {
            opts,
            exe,
            conn,
            channels,
            session,
            worker: Pid::from_raw(0),
            generation: 0,
            fd_store,
        };
        sv.worker = sv.spawn_worker()?;
        sv.generation = 1;
        sv.notify_systemd();
        tracing::info!(
            mountpoint = %sv.opts.mountpoint.display(),
            worker = sv.worker.as_raw(),
            "serving proc/{{meminfo,cpuinfo,stat,uptime,loadavg,swaps,diskstats}} and sys/devices/system/cpu/online"
        );
        Ok(sv)
    }

    fn take_over(
        opts: Options,
        exe: PathBuf,
        conn: RawFd,
        channels: &[RawFd],
        old: Pid,
        generation: u64,
    ) -> Result<Self, Error> {
        let adopt = |fd| {
            // SAFETY: the predecessor passed these fds to this process by exec and nothing else
            // here owns them; adopt_fuse_fd checks they are /dev/fuse.
            unsafe { adopt_fuse_fd(fd) }.map_err(|source| Error::Sys {
                what: "adopting the predecessor's FUSE fds",
                source,
            })
        };
        let conn = adopt(conn)?;
        let channels = channels
            .iter()
            .map(|&fd| adopt(fd))
            .collect::<Result<Vec<_>, _>>()?;
        let mut sv = Supervisor {
            opts,
            exe,
            conn,
            channels,
            session: None,
            worker: old,
            generation,
            fd_store: std::env::var_os("NOTIFY_SOCKET").is_some(),
        };
        sv.replace_worker("upgrade");
        Ok(sv)
    }

    /// Starts a worker on the channels and waits until it serves.
    fn spawn_worker(&self) -> Result<Pid, Error> {
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(sys("creating the ready pipe"))?;
        inheritable(&ready_w).map_err(|source| Error::Sys {
            what: "passing the ready pipe",
            source,
        })?;
        let fds: Vec<String> = self
            .channels
            .iter()
            .map(|c| c.as_raw_fd().to_string())
            .collect();
        let child = Command::new(&self.exe)
            .arg("serve-worker")
            .arg("--fds")
            .arg(fds.join(","))
            .arg("--ready-fd")
            .arg(ready_w.as_raw_fd().to_string())
            .arg("--load-state")
            .arg(status_path(&self.opts.mountpoint).with_extension("load"))
            .args(self.opts.args())
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("NOTIFY_SOCKET")
            .spawn()
            .map_err(|source| Error::Sys {
                what: "starting a worker",
                source,
            })?;
        drop(ready_w);
        let pid = Pid::from_raw(child.id() as i32);
        // The supervisor reaps with waitpid; the std handle is not used again.
        drop(child);
        if wait_ready(ready_r, Duration::from_secs(10)) {
            Ok(pid)
        } else {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            Err(Error::Fuse("the worker did not become ready".into()))
        }
    }

    /// Starts a new worker, then stops the old one between requests.
    fn replace_worker(&mut self, why: &str) {
        match self.spawn_worker() {
            Ok(new) => {
                let old = std::mem::replace(&mut self.worker, new);
                self.generation += 1;
                stop_worker(old);
                // Anything the old worker had taken and not answered is queued again.
                if let Err(e) = takeover::resend(&self.conn) {
                    tracing::debug!(error = %e, "FUSE_NOTIFY_RESEND not supported");
                }
                tracing::info!(
                    generation = self.generation,
                    worker = new.as_raw(),
                    reason = why,
                    "new worker serving"
                );
                self.write_status();
            }
            Err(e) => {
                tracing::error!(error = %e, reason = why, "new worker failed; the old one keeps serving")
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) if st.pid() == Some(self.worker) => {
                    tracing::warn!(status = ?st, "worker died; starting a new one");
                    // Requests it had taken are queued again before the new worker reads.
                    if let Err(e) = takeover::resend(&self.conn) {
                        tracing::warn!(error = %e, "FUSE_NOTIFY_RESEND failed (kernel older than 6.9?): the requests the dead worker held fail with ECONNABORTED");
                        self.renew_channels();
                    }
                    self.respawn();
                }
                Ok(_) => {}
            }
        }
    }

    /// Replaces the channels with fresh clones. Closing the old ones (the dead worker's copies
    /// are gone) makes the kernel end the requests still held on them with ECONNABORTED,
    /// instead of leaving their callers waiting forever.
    fn renew_channels(&mut self) {
        let fresh = (0..self.channels.len())
            .map(|_| {
                let c = clone_channel(&self.conn)?;
                inheritable(&c)?;
                Ok(c)
            })
            .collect::<std::io::Result<Vec<File>>>();
        match fresh {
            Ok(f) => self.channels = f,
            Err(e) => tracing::error!(error = %e, "cloning fresh channels; keeping the old ones"),
        }
    }

    fn respawn(&mut self) {
        let mut delay = Duration::from_millis(10);
        loop {
            match self.spawn_worker() {
                Ok(pid) => {
                    self.worker = pid;
                    self.generation += 1;
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

    /// Execs the binary now on disk, which takes over the connection and this worker.
    fn upgrade(&mut self) {
        let fds: Vec<String> = self
            .channels
            .iter()
            .map(|c| c.as_raw_fd().to_string())
            .collect();
        let mut args = vec![
            self.exe.to_string_lossy().into_owned(),
            "serve".to_owned(),
            self.opts.mountpoint.to_string_lossy().into_owned(),
            "--takeover-conn".to_owned(),
            self.conn.as_raw_fd().to_string(),
            "--takeover-channels".to_owned(),
            fds.join(","),
            "--takeover-worker".to_owned(),
            self.worker.as_raw().to_string(),
            "--takeover-generation".to_owned(),
            self.generation.to_string(),
        ];
        args.extend(self.opts.args());
        let cargs: Vec<std::ffi::CString> = args
            .iter()
            .filter_map(|a| std::ffi::CString::new(a.as_bytes()).ok())
            .collect();
        let exe = std::ffi::CString::new(self.exe.to_string_lossy().as_bytes()).unwrap_or_default();
        tracing::info!(binary = %self.exe.display(), "upgrading: exec");
        // The signal mask survives exec; the new supervisor blocks the same set.
        let err = nix::unistd::execv(&exe, &cargs).unwrap_err();
        tracing::error!(error = %err, "upgrade failed: the running version keeps serving");
    }

    fn stop(mut self, sig: Signal) -> Result<(), Error> {
        tracing::info!(signal = ?sig, "stopping");
        stop_worker(self.worker);
        let status = status_path(&self.opts.mountpoint);
        let _ = std::fs::remove_file(status.with_extension("load"));
        let _ = std::fs::remove_file(status);
        if self.fd_store {
            // systemd holds the connection for the next instance: leave the mount in place.
            // A request the worker took just before it exited sits on a channel this process
            // is about to close, which would abort it: queue it again for the successor.
            if let Err(e) = takeover::resend(&self.conn) {
                tracing::debug!(error = %e, "FUSE_NOTIFY_RESEND not supported");
            }
            std::mem::forget(self.session.take());
            return Ok(());
        }
        match self.session.take() {
            Some(mut s) => s.umount().map_err(|e| Error::Fuse(e.to_string()))?,
            None => nix::mount::umount2(&self.opts.mountpoint, nix::mount::MntFlags::MNT_DETACH)
                .map_err(sys("unmounting"))?,
        }
        Ok(())
    }

    fn write_status(&self) {
        let path = status_path(&self.opts.mountpoint);
        let text = format!(
            "supervisor {}\nworker {}\ngeneration {}\n",
            std::process::id(),
            self.worker,
            self.generation
        );
        let tmp = path.with_extension("tmp");
        let ok = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&tmp, text))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = ok {
            tracing::warn!(error = %e, path = %path.display(), "writing the status file");
        }
    }

    /// Gives the connection to systemd's fd store and reports readiness.
    fn notify_systemd(&self) {
        let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
            return;
        };
        let fd = self.conn.as_raw_fd();
        let store = sd_notify(&socket, "FDSTORE=1\nFDNAME=vproc-fuse\n", Some(fd));
        let ready = sd_notify(
            &socket,
            &format!("READY=1\nMAINPID={}\n", std::process::id()),
            None,
        );
        if let Err(e) = store.and(ready) {
            tracing::warn!(error = %e, "notifying systemd");
        }
    }
}

fn wait_ready(fd: OwnedFd, timeout: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + timeout;
    let mut file = File::from(fd);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&file),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, ms) {
            Ok(0) => return false,
            Ok(_) => {
                let mut b = [0u8; 1];
                return matches!(file.read(&mut b), Ok(1));
            }
            Err(nix::errno::Errno::EINTR) if Instant::now() < deadline => continue,
            Err(_) => return false,
        }
    }
}

/// Stops a worker between requests (SIGTERM), killing it if it has not exited in 5 s.
fn stop_worker(pid: Pid) {
    if pid.as_raw() <= 0 {
        return;
    }
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return;
            }
            _ => return,
        }
    }
}

/// The connection systemd passed back (`LISTEN_FDS`/`LISTEN_PID`: fds from 3), if any.
fn systemd_listen_fd() -> Option<File> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let n: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || n < 1 {
        return None;
    }
    // SAFETY: by the sd_listen_fds protocol fd 3 was passed to this process for it to own.
    match unsafe { adopt_fuse_fd(3) } {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN_FDS fd 3 is not a FUSE connection; mounting afresh");
            None
        }
    }
}

/// Sends one sd_notify message, optionally with an fd (SCM_RIGHTS).
fn sd_notify(socket: &std::ffi::OsStr, msg: &str, fd: Option<RawFd>) -> std::io::Result<()> {
    use nix::sys::socket::{
        sendmsg, socket as mksocket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
        UnixAddr,
    };
    use std::os::unix::ffi::OsStrExt;
    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(abs) => UnixAddr::new_abstract(abs),
        None => UnixAddr::new(bytes),
    }
    .map_err(std::io::Error::from)?;
    let sock = mksocket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)?;
    let iov = [std::io::IoSlice::new(msg.as_bytes())];
    let fds = fd.map(|f| [f]);
    let cmsgs: Vec<ControlMessage> = fds
        .as_ref()
        .map(|f| ControlMessage::ScmRights(f))
        .into_iter()
        .collect();
    sendmsg(
        sock.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::empty(),
        Some(&addr),
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}

/// Parses a comma-separated fd list.
pub fn parse_fds(s: &str) -> Result<Vec<RawFd>, String> {
    s.split(',')
        .map(|v| {
            v.trim()
                .parse::<RawFd>()
                .map_err(|_| format!("bad fd list `{s}`"))
        })
        .collect()
}
