//! The view server `vproc run` starts when no daemon serves: a child process that mounts both
//! trees in a mount namespace of its own and serves them for the container's lifetime.
//!
//! Its mounts exist only in that namespace, so nothing is ever mounted in the host's: when the
//! server ends, or is killed together with `vproc run` (it has a parent-death signal), the
//! namespace and its mounts vanish with it, and nothing is left behind. The container's views
//! are copies of those mounts taken from inside the namespace (`setns`), which is why the
//! server's directory is given together with its pid.

use super::service::{Config, Service};
use super::Error;
use crate::compose::Composer;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running embedded server.
#[derive(Debug)]
pub struct EmbeddedServer {
    pid: Pid,
    dir: PathBuf,
}

fn io_err(e: nix::errno::Errno) -> std::io::Error {
    e.into()
}

impl EmbeddedServer {
    /// Forks the server and waits (10 s at most) until it serves. The caller must be
    /// single-threaded.
    pub fn start(cache: Duration) -> Result<Self, Error> {
        let (mut ready_r, ready_w) = std::io::pipe().map_err(Error::sys("creating a pipe"))?;
        let dir = std::env::temp_dir().join("vproc-views");
        match crate::kernel::syscall::fork()
            .map_err(|e| Error::sys("starting the view server")(io_err(e)))?
        {
            None => {
                drop(ready_r);
                let code = match serve_in_own_namespace(&dir, cache, ready_w) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("vproc: view server: {}", crate::kernel::error_chain(&e));
                        1
                    }
                };
                std::process::exit(code);
            }
            Some(pid) => {
                drop(ready_w);
                let s = EmbeddedServer { pid, dir };
                let mut b = [0u8; 1];
                match ready_r.read(&mut b) {
                    Ok(1) => Ok(s),
                    _ => {
                        s.stop();
                        Err(Error::Sys {
                            what: "starting the view server",
                            source: std::io::Error::other(
                                "it exited before serving (see its message above)",
                            ),
                        })
                    }
                }
            }
        }
    }

    /// The views tree's directory, valid in the mount namespace of [`EmbeddedServer::pid`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's pid (whose mount namespace holds the views).
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and reaps it.
    pub fn stop(self) {
        let _ = kill(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = kill(self.pid, Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    return;
                }
                _ => return,
            }
        }
    }
}

/// In the child: dies with its parent, makes a private mount namespace with a tmpfs to mount
/// in, serves until SIGTERM.
fn serve_in_own_namespace(
    dir: &Path,
    cache: Duration,
    mut ready: std::io::PipeWriter,
) -> Result<(), Error> {
    use nix::mount::{mount, MsFlags};
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| Error::sys("setting the parent-death signal")(io_err(e)))?;
    if nix::unistd::getppid().as_raw() <= 1 {
        // The parent died before the signal was armed.
        return Ok(());
    }
    // Its own process group, so a terminal's Ctrl-C goes to the container, not to it.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&signals), None)
        .map_err(|e| Error::sys("blocking signals")(io_err(e)))?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("creating the view server's mount namespace")(io_err(e)))?;
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| Error::sys("making the view server's mounts private")(io_err(e)))?;
    let parent = dir.parent().unwrap_or(Path::new("/tmp"));
    mount(
        Some("tmpfs"),
        parent,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755,size=64k"),
    )
    .map_err(|e| Error::sys("mounting the view server's scratch tmpfs")(io_err(e)))?;
    let composer =
        Composer::for_host(crate::cgroup::resolve::Mode::Container, cache).map_err(|e| {
            Error::Sys {
                what: "reading the host's cgroups",
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    let svc = Service::start(
        Arc::new(composer),
        &Config {
            mountpoint: dir.to_owned(),
            threads: 2,
        },
    )?;
    ready
        .write_all(b"r")
        .map_err(Error::sys("telling vproc run the views are ready"))?;
    drop(ready);
    let _ = signals.wait();
    svc.stop()
}
