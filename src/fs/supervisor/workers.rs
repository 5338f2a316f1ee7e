//! Starting and stopping worker processes. A worker is this same binary image
//! (`/proc/self/exe`, even if the file on disk was replaced since), so the supervisor and its
//! workers always speak the same internal interface.

use super::Options;
use crate::fs::Error;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

/// The channels a worker serves.
#[derive(Debug)]
pub struct WorkerFds<'a> {
    /// The views tree's channels.
    pub views: &'a [File],
    /// The containers tree's channels.
    pub containers: &'a [File],
}

fn list(files: &[File]) -> String {
    let v: Vec<String> = files.iter().map(|c| c.as_raw_fd().to_string()).collect();
    v.join(",")
}

/// Starts a worker of `generation` on the channels and waits (10 s at most) until it serves.
pub fn spawn(opts: &Options, fds: WorkerFds<'_>, generation: u64) -> Result<Pid, Error> {
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("creating the ready pipe")(e.into()))?;
    super::handover::inheritable(&ready_w).map_err(Error::sys("passing the ready pipe"))?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("serve-worker")
        .arg("--mountpoint")
        .arg(&opts.mountpoint)
        .arg("--views-fds")
        .arg(list(fds.views))
        .arg("--containers-fds")
        .arg(list(fds.containers))
        .arg("--ready-fd")
        .arg(ready_w.as_raw_fd().to_string())
        .arg("--generation")
        .arg(generation.to_string())
        .args(opts.view_args())
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env_remove("NOTIFY_SOCKET");
    let child = cmd.spawn().map_err(Error::sys("starting a worker"))?;
    drop(ready_w);
    let pid = Pid::from_raw(child.id() as i32);
    // The supervisor reaps with waitpid; the std handle is not used again.
    drop(child);
    if wait_ready(ready_r, Duration::from_secs(10)) {
        Ok(pid)
    } else {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        Err(Error::Sys {
            what: "starting a worker",
            source: std::io::Error::other("the worker did not become ready within 10 s"),
        })
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
pub fn stop(pid: Pid) {
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
