//! What the supervisor says to the service manager (through [`crate::kernel::systemd`]): the
//! names its fds go by, and taking them back (`LISTEN_FDS`). The supervisor gives both FUSE
//! connections to the fd store, so `systemctl restart` and a crash of the whole service keep
//! the mounts alive, and their channels too: a request a worker had taken when the whole
//! service died stays on its channel (a channel whose last fd closes ends its requests with
//! ECONNABORTED), and the next instance asks the kernel to resend it.

use crate::fs::sys::adopt_fuse_fd;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};

/// The name the views tree's connection is stored under.
pub const VIEWS_NAME: &str = "vproc-views";
/// The name the containers tree's connection is stored under.
pub const CONTAINERS_NAME: &str = "vproc-containers";
/// The name the views tree's channels are stored under.
pub const VIEWS_CHANNEL_NAME: &str = "vproc-views-channel";
/// The name the containers tree's channels are stored under.
pub const CONTAINERS_CHANNEL_NAME: &str = "vproc-containers-channel";

/// What a restarted service got back from the store.
#[derive(Debug)]
pub struct Stored {
    /// The views tree's connection.
    pub views: File,
    /// The containers tree's connection, if it was stored.
    pub containers: Option<File>,
    /// The views tree's channels, as an earlier instance stored them.
    pub views_channels: Vec<File>,
    /// The containers tree's channels.
    pub containers_channels: Vec<File>,
}

pub use crate::kernel::systemd::managed;
use crate::kernel::systemd::notify;

/// The fds a restarted service got back (`LISTEN_FDS` naming this process), by name.
pub fn listen_fds() -> Option<Stored> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let n: i32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || n < 1 {
        return None;
    }
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|s| s.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut views = None;
    let mut containers = None;
    let mut views_channels = Vec::new();
    let mut containers_channels = Vec::new();
    for i in 0..n {
        let fd: RawFd = 3 + i;
        // SAFETY: by the sd_listen_fds protocol fds 3..3+n were passed to this process for it
        // to own, and nothing else here has taken them.
        let f = match unsafe_adopt(fd) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(fd, error = %e, "LISTEN_FDS: not a FUSE connection; skipped");
                continue;
            }
        };
        match names.get(i as usize).map(String::as_str) {
            Some(CONTAINERS_NAME) => containers = Some(f),
            Some(VIEWS_CHANNEL_NAME) => views_channels.push(f),
            Some(CONTAINERS_CHANNEL_NAME) => containers_channels.push(f),
            // The views tree's, or an older vproc's single unnamed connection.
            _ if views.is_none() => views = Some(f),
            _ => containers = Some(f),
        }
    }
    for v in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    Some(Stored {
        views: views?,
        containers,
        views_channels,
        containers_channels,
    })
}

#[allow(unsafe_code)]
fn unsafe_adopt(fd: RawFd) -> std::io::Result<File> {
    // SAFETY: see `listen_fds`: fd was passed to this process for it to own.
    let f = unsafe { adopt_fuse_fd(fd) }?;
    // Kept by this process; passed on to a worker or an exec only for that moment.
    crate::fs::sys::set_cloexec(&f, true)?;
    Ok(f)
}

/// Stores `conn` in the fd store under `name`.
pub fn store(conn: &File, name: &str) -> std::io::Result<()> {
    notify(
        &format!("FDSTORE=1\nFDNAME={name}\n"),
        Some(conn.as_raw_fd()),
    )
}

/// Removes every fd stored under `name`.
pub fn remove(name: &str) -> std::io::Result<()> {
    notify(&format!("FDSTOREREMOVE=1\nFDNAME={name}\n"), None)
}

/// Reports readiness and the main pid.
pub fn ready() -> std::io::Result<()> {
    notify(&format!("READY=1\nMAINPID={}\n", std::process::id()), None)
}
