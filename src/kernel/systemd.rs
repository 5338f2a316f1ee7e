//! The service manager's protocols, hand-written because they are a few lines each (a crate
//! would bring a dependency tree for two functions): `sd_notify` (a datagram to
//! `$NOTIFY_SOCKET`, optionally with an fd) and `LISTEN_FDS` (fds from 3 on, named in
//! `LISTEN_FDNAMES`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Whether a service manager is listening (`NOTIFY_SOCKET` is set).
pub fn managed() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Sends one sd_notify message (`KEY=VALUE` lines), with `fd` attached if given; nothing
/// without `NOTIFY_SOCKET`.
pub fn notify(msg: &str, fd: Option<RawFd>) -> std::io::Result<()> {
    use nix::sys::socket::{
        sendmsg, socket as mksocket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
        UnixAddr,
    };
    use std::os::unix::ffi::OsStrExt;
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
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

/// The fds passed to this process (`LISTEN_FDS` naming it) whose names are `<prefix><number>`,
/// with that number; the others are left alone. Clears the variables once read.
pub fn take_named(prefix: &str) -> Vec<(u32, OwnedFd)> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if !ours || n < 1 {
        return Vec::new();
    }
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|s| s.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    for v in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    (0..n)
        .filter_map(|i| {
            let number = names
                .get(i as usize)?
                .strip_prefix(prefix)?
                .parse::<u32>()
                .ok()?;
            Some((number, super::syscall::adopt_inherited_fd(3 + i)?))
        })
        .collect()
}
