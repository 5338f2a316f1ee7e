//! Handing a running daemon's connections to a process that is not its successor by `exec`:
//! the new pod of a DaemonSet during a rolling update (both pods share the host's pid
//! namespace and `/run/vproc`). The newcomer listens on `<mountpoint>.takeover` next to the
//! status file and signals the running supervisor (SIGUSR1); that one connects and sends the
//! hand-over message with every connection and channel fd attached (SCM_RIGHTS), then waits
//! for `ok`, which the newcomer sends once its own worker serves. Only then does the running
//! daemon stop its worker (between requests, resending what it held) and stand by, without
//! unmounting, until it is stopped. If anything fails before `ok`, it keeps serving.

use super::handover::Handover;
use super::status::status_path;
use crate::fs::Error;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a newcomer listens for the running daemon of `mountpoint`.
pub fn path(mountpoint: &Path) -> PathBuf {
    status_path(mountpoint).with_extension("takeover")
}

/// The most fds one hand-over carries (the kernel's limit per message is 253).
const MAX_FDS: usize = 250;

/// The fds of `h` in the order they travel, and `h` with each fd replaced by its index.
fn by_index(h: &Handover) -> (Vec<RawFd>, Handover) {
    let mut fds = Vec::new();
    let mut idx = |fd: RawFd| {
        fds.push(fd);
        (fds.len() - 1) as RawFd
    };
    let mut m = h.clone();
    m.views_conn = idx(h.views_conn);
    m.views_channels = h.views_channels.iter().map(|&f| idx(f)).collect();
    m.containers_conn = h.containers_conn.map(&mut idx);
    m.containers_channels = h.containers_channels.iter().map(|&f| idx(f)).collect();
    (fds, m)
}

/// The running side: sends `h` (its fds attached) to the newcomer of `mountpoint`; the stream
/// to wait for its `ok` on.
pub fn offer(mountpoint: &Path, h: &Handover) -> Result<UnixStream, Error> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let p = path(mountpoint);
    let stream = UnixStream::connect(&p).map_err(Error::sys("reaching the newcomer"))?;
    let (fds, msg) = by_index(h);
    if fds.len() > MAX_FDS {
        return Err(Error::Sys {
            what: "handing over",
            source: std::io::Error::other(format!("{} fds, more than {MAX_FDS}", fds.len())),
        });
    }
    let text = msg.encode();
    let iov = [std::io::IoSlice::new(text.as_bytes())];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::sys("sending the connections")(e.into()))?;
    // The message is one datagram-sized write; its end is the end of the stream's first half.
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(Error::sys("sending the connections"))?;
    Ok(stream)
}

/// The running side: whether the newcomer said `ok` within `timeout`.
pub fn wait_ok(mut stream: UnixStream, timeout: Duration) -> bool {
    let _ = stream.set_read_timeout(Some(timeout));
    let mut answer = [0u8; 2];
    stream.read_exact(&mut answer).is_ok() && &answer == b"ok"
}

/// The newcomer's side of one hand-over.
#[derive(Debug)]
pub struct Request {
    stream: UnixStream,
    listening: PathBuf,
}

impl Request {
    /// Listens, signals `supervisor` (the daemon serving `mountpoint`), and receives its
    /// hand-over within `timeout`. The message's fds are this process's own now.
    pub fn ask(
        mountpoint: &Path,
        supervisor: i32,
        timeout: Duration,
    ) -> Result<(Request, Handover), Error> {
        let p = path(mountpoint);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(Error::sys("creating /run/vproc/serve"))?;
        }
        let _ = std::fs::remove_file(&p);
        let listener = UnixListener::bind(&p).map_err(Error::sys("listening for the hand-over"))?;
        let listening = p.clone();
        // Removed on every path from here.
        let guard = Listening(p);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(supervisor),
            nix::sys::signal::Signal::SIGUSR1,
        )
        .map_err(|e| Error::sys("asking the running daemon to hand over")(e.into()))?;
        listener
            .set_nonblocking(true)
            .map_err(Error::sys("listening for the hand-over"))?;
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(Error::Sys {
                        what:
                            "waiting for the running daemon to hand over (is it a vproc that can?)",
                        source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                    })
                }
                Err(e) => return Err(Error::sys("waiting for the hand-over")(e)),
            }
        };
        drop(guard);
        stream
            .set_nonblocking(false)
            .and_then(|_| stream.set_read_timeout(Some(timeout)))
            .map_err(Error::sys("receiving the hand-over"))?;
        let h = receive(&stream)?;
        Ok((Request { stream, listening }, h))
    }

    /// Tells the running daemon that this process serves now.
    pub fn confirm(mut self) -> Result<(), Error> {
        self.stream
            .write_all(b"ok")
            .map_err(Error::sys("confirming the hand-over"))?;
        let _ = std::fs::remove_file(&self.listening);
        Ok(())
    }
}

/// Removes the listening socket's path.
struct Listening(PathBuf);

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn receive(stream: &UnixStream) -> Result<Handover, Error> {
    let (buf, fds) = crate::kernel::syscall::recv_with_fds(stream, 64 * 1024)
        .map_err(Error::sys("receiving the hand-over"))?;
    if fds.len() > MAX_FDS {
        return Err(Error::Sys {
            what: "receiving the hand-over",
            source: std::io::Error::other(format!("{} fds, more than {MAX_FDS}", fds.len())),
        });
    }
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let h = handover_with(&buf, &raw)?;
    // The Handover's reader adopts them now; on any error above they were closed.
    for f in fds {
        let _ = f.into_raw_fd();
    }
    Ok(h)
}

/// The message in `bytes`, its fd indices replaced by the received `raw` fds.
fn handover_with(bytes: &[u8], raw: &[RawFd]) -> Result<Handover, Error> {
    let text = String::from_utf8_lossy(bytes);
    let msg = Handover::decode(&text).map_err(|e| Error::Sys {
        what: "reading the hand-over",
        source: std::io::Error::other(e.to_string()),
    })?;
    let at = |i: RawFd| -> Result<RawFd, Error> {
        usize::try_from(i)
            .ok()
            .and_then(|i| raw.get(i).copied())
            .ok_or(Error::Sys {
                what: "reading the hand-over",
                source: std::io::Error::other(format!("fd index {i} of {}", raw.len())),
            })
    };
    let h = Handover {
        views_conn: at(msg.views_conn)?,
        views_channels: msg
            .views_channels
            .iter()
            .map(|&i| at(i))
            .collect::<Result<_, _>>()?,
        containers_conn: msg.containers_conn.map(at).transpose()?,
        containers_channels: msg
            .containers_channels
            .iter()
            .map(|&i| at(i))
            .collect::<Result<_, _>>()?,
        ..msg
    };
    Ok(h)
}
