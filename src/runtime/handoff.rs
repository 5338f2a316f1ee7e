//! The two messages between `vproc run`'s parent and the container's init, over a socket pair:
//! the init says it has joined the container's cgroup (one byte), and the parent answers with
//! the container's own view files, which are named by the init's pid (`by-pid/<init>/...`) and
//! resolved by its cgroup, so they can only be opened after that. The views travel as detached
//! mounts (`SCM_RIGHTS`); the init attaches them after building the root's `/proc` and before
//! `pivot_root`. Last, when `sysinfo(2)` is answered for the container, the init sends the
//! listener of the seccomp filter it installed (or nothing, if the kernel has none).

use super::Error;
use crate::kernel::syscall::recv_with_fds;
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use vproc_mount::{OpenView, VIEWS};

/// The parent's and the init's ends.
#[derive(Debug)]
pub struct Handoff {
    /// The parent's end.
    pub parent: OwnedFd,
    /// The init's end.
    pub init: OwnedFd,
}

impl Handoff {
    /// A connected pair (close-on-exec: the command never sees it).
    pub fn new() -> Result<Handoff, Error> {
        let (parent, init) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(Error::sys("creating the parent-init socket"))?;
        Ok(Handoff { parent, init })
    }
}

/// The init: it has joined the container's cgroup.
pub fn send_joined(sock: &OwnedFd) -> Result<(), Error> {
    nix::unistd::write(sock, b"j").map_err(Error::sys("telling vproc run the cgroup is joined"))?;
    Ok(())
}

/// The parent: waits until the init has joined the container's cgroup; `false` if it ended.
pub fn wait_joined(sock: &OwnedFd) -> bool {
    let mut b = [0u8; 1];
    matches!(nix::unistd::read(sock, &mut b), Ok(1))
}

/// Sends the views (possibly none). Each view goes as its index in [`VIEWS`] plus its fd.
pub fn send_views(sock: &OwnedFd, views: &[OpenView]) -> Result<(), Error> {
    let idx: Vec<u8> = views
        .iter()
        .filter_map(|v| VIEWS.iter().position(|r| *r == v.rel))
        .filter_map(|i| u8::try_from(i).ok())
        .collect();
    let fds: Vec<RawFd> = views.iter().map(|v| v.tree.as_raw_fd()).collect();
    // A message always carries at least one byte, so "no views" is distinguishable from EOF.
    let mut payload = vec![u8::try_from(idx.len()).unwrap_or(0)];
    payload.extend_from_slice(&idx);
    send_with_fds(sock, &payload, &fds, "sending the views to the container")
}

/// One message: `payload` (never empty, so it is told apart from EOF) and `fds`, if any.
fn send_with_fds(
    sock: &OwnedFd,
    payload: &[u8],
    fds: &[RawFd],
    what: &'static str,
) -> Result<(), Error> {
    let iov = [IoSlice::new(payload)];
    let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(fds)]
    };
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None)
        .map_err(Error::sys(what))?;
    Ok(())
}

/// The init, its setup done: says so, with the sysinfo listener if it made one.
pub fn send_ready(sock: &OwnedFd, listener: Option<&OwnedFd>) -> Result<(), Error> {
    let fds: Vec<RawFd> = listener.iter().map(|l| l.as_raw_fd()).collect();
    send_with_fds(
        sock,
        &[u8::from(listener.is_some())],
        &fds,
        "telling vproc run the container is set up",
    )
}

/// The parent: `Some` once the init has set up (with the sysinfo listener it sent, if any);
/// `None` if it ended first.
pub fn recv_ready(sock: &OwnedFd) -> Option<Option<OwnedFd>> {
    let (bytes, fds) = recv_with_fds(sock, 1).ok()?;
    if bytes.is_empty() {
        return None;
    }
    Some(fds.into_iter().next())
}

/// Receives the views the parent sent.
pub fn recv_views(sock: &OwnedFd) -> Result<Vec<OpenView>, Error> {
    let (buf, owned) = recv_with_fds(sock, 64).map_err(|e| {
        let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        Error::sys("receiving the views from vproc run")(errno)
    })?;
    let n = buf.len();
    if n == 0 {
        return Err(Error::Serve(
            "vproc run ended before sending the views".into(),
        ));
    }
    let count = usize::from(buf[0]);
    let idx = &buf[1..n.min(1 + count)];
    Ok(idx
        .iter()
        .zip(owned)
        .filter_map(|(&i, tree)| VIEWS.get(usize::from(i)).map(|rel| OpenView { rel, tree }))
        .collect())
}
