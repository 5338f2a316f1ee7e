//! `sysinfo(2)` answered for containers. No file carries what busybox `free` and `uptime`,
//! glibc's `sysconf(_SC_PHYS_PAGES)` and older JVMs ask for: they make a system call. A
//! seccomp filter in the container sends that call to a listener (`SECCOMP_RET_USER_NOTIF`),
//! and [`serve`] answers it with the container's figures ([`Composer::sysinfo`]: the same as
//! the meminfo, uptime and loadavg views). Every other call runs untouched.
//!
//! Answering writes the struct into the caller's memory. Through `/proc/<pid>/mem`, opened
//! first and used only after the kernel confirms the call is still waiting
//! (`SECCOMP_IOCTL_NOTIF_ID_VALID`): a caller that was killed meanwhile, and whose pid went to
//! another process, is never written to, and the file keeps naming the first process anyway. A
//! caller gone is skipped; a bad address gets EFAULT, as from the kernel.

use crate::cgroup::resolve::{ContainerId, Mode};
use crate::compose::Composer;
use crate::kernel::syscall::{notif_id_valid, notif_recv, notif_send, sysinfo_bytes, Notification};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// What a listener's handler did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Calls answered with the container's figures.
    pub answered: AtomicU64,
    /// Calls whose caller was gone before the answer.
    pub gone: AtomicU64,
    /// Calls answered EFAULT (a bad address).
    pub faulted: AtomicU64,
}

/// Answers every intercepted call on `listener` with `answer()`, until no process uses the
/// filter any more.
pub fn serve(listener: &OwnedFd, answer: &dyn Fn() -> libc::sysinfo, counters: &Counters) {
    loop {
        // Wait with poll: once every process of the filter has exited, the listener hangs up.
        match wait_readable(listener) {
            Wait::Ready => {}
            Wait::Again => continue,
            Wait::HungUp => return,
        }
        let n = match notif_recv(listener) {
            Ok(n) => n,
            // ENOENT: the caller was interrupted (killed) before it was read.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading the sysinfo listener; it stops");
                return;
            }
        };
        handle(listener, &n, answer, counters);
    }
}

fn handle(
    listener: &OwnedFd,
    n: &Notification,
    answer: &dyn Fn() -> libc::sysinfo,
    counters: &Counters,
) {
    if n.nr != libc::SYS_sysinfo as i32 {
        // The filter sends nothing else; were it to, the call fails rather than lies.
        let _ = notif_send(listener, n.id, 0, libc::ENOSYS);
        return;
    }
    let bytes = sysinfo_bytes(&answer());
    // Opened before the check: if the call is still waiting after it, the file names the
    // calling process, whatever happens to its pid later.
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{}/mem", n.pid));
    if !notif_id_valid(listener, n.id) {
        counters.gone.fetch_add(1, Relaxed);
        return;
    }
    let written = mem.and_then(|m| m.write_at(&bytes, n.arg0));
    let sent = match written {
        Ok(len) if len == bytes.len() => {
            counters.answered.fetch_add(1, Relaxed);
            notif_send(listener, n.id, 0, 0)
        }
        _ => {
            counters.faulted.fetch_add(1, Relaxed);
            notif_send(listener, n.id, 0, libc::EFAULT)
        }
    };
    if sent.is_err() {
        // ENOENT: the caller was killed after the check; nothing to answer.
        counters.gone.fetch_add(1, Relaxed);
    }
}

enum Wait {
    Ready,
    Again,
    HungUp,
}

fn wait_readable(fd: &OwnedFd) -> Wait {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(1000u16)) {
        Ok(0) | Err(_) => Wait::Again,
        Ok(_) => {
            let r = fds[0].revents().unwrap_or(PollFlags::empty());
            if r.contains(PollFlags::POLLIN) {
                Wait::Ready
            } else if r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                Wait::HungUp
            } else {
                Wait::Again
            }
        }
    }
}

/// How long one answer is reused.
const ANSWER_TTL: Duration = Duration::from_millis(100);

/// Serves `listener` for the container whose init is `init_pid`, on a thread of its own
/// (`vproc run`, and the agent for runc and crun). The figures are read for each call, through
/// a composer of its own with the usual 100 ms cache.
pub fn spawn_for_init(listener: OwnedFd, init_pid: u32) -> std::io::Result<Arc<Counters>> {
    spawn_with(listener, init_pid, || {})
}

/// [`spawn_for_init`], calling `on_end` once no process uses the filter any more.
fn spawn_with(
    listener: OwnedFd,
    init_pid: u32,
    on_end: impl FnOnce() + Send + 'static,
) -> std::io::Result<Arc<Counters>> {
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    std::thread::Builder::new()
        .name(format!("vproc:sysinfo-{init_pid}"))
        .spawn(move || {
            serve_init(&listener, init_pid, &c);
            on_end();
        })?;
    Ok(counters)
}

fn serve_init(listener: &OwnedFd, init_pid: u32, c: &Counters) {
    let composer = match Composer::for_host(Mode::Container, Duration::from_millis(100)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "sysinfo: no cgroup model; calls get host values");
            serve(listener, &crate::compose::host_sysinfo, c);
            return;
        }
    };
    let id = composer.resolver().resolve(init_pid).map(|c| c.id);
    // Reused for the cache TTL, as the views are: a program that calls sysinfo in a
    // loop costs one composition per 100 ms (the uptime is in whole seconds anyway).
    let last: std::cell::RefCell<Option<(std::time::Instant, libc::sysinfo)>> =
        std::cell::RefCell::new(None);
    let answer = || {
        if let Some((at, s)) = *last.borrow() {
            if at.elapsed() < ANSWER_TTL {
                return s;
            }
        }
        let container = id
            .as_ref()
            .ok()
            .and_then(|id: &ContainerId| composer.resolver().container(id).ok());
        let starting = container.as_ref().is_some_and(|c| composer.is_starting(c));
        let s = composer.sysinfo(container.as_ref());
        // A starting container's limits may be written any moment: never reused.
        *last.borrow_mut() = (!starting).then(|| (std::time::Instant::now(), s));
        s
    };
    serve(listener, &answer, c);
}

/// `vproc sysinfo-agent`: the seccomp agent of runc and crun (`linux.seccomp.listenerPath`).
/// The runtime connects to `socket` as it starts each container and sends the container's
/// state (JSON, with its `pid`) and the listener of the filter it installed (SCM_RIGHTS); each
/// listener is served on a thread of its own, for that container.
///
/// Under systemd (`NOTIFY_SOCKET`), every listener is also kept in the fd store
/// (`FDNAME=sysinfo-<pid>`) and taken back by the next instance (`LISTEN_FDS`): a closed
/// listener would make the container's `sysinfo` calls fail with ENOSYS, so the agent can be
/// restarted or upgraded under running containers.
pub fn agent(socket: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::net::UnixListener;
    for (pid, fd) in crate::kernel::systemd::take_named("sysinfo-") {
        tracing::info!(pid, "sysinfo listener taken back from the fd store");
        adopt(fd, pid);
    }
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    crate::kernel::systemd::notify("READY=1\n", None)?;
    tracing::info!(socket = %socket.display(), "sysinfo agent listening");
    for conn in listener.incoming() {
        match conn.map_err(|e| e.to_string()).and_then(|c| receive(&c)) {
            Ok((pid, fd)) => {
                let name = format!("sysinfo-{pid}");
                if let Err(e) = crate::kernel::systemd::notify(
                    &format!("FDSTORE=1\nFDNAME={name}\n"),
                    Some(std::os::fd::AsRawFd::as_raw_fd(&fd)),
                ) {
                    tracing::warn!(error = %e, "keeping a sysinfo listener in the fd store");
                }
                adopt(fd, pid);
            }
            Err(e) => tracing::warn!(error = %e, "a runtime's seccomp message"),
        }
    }
    Ok(())
}

/// Serves one container's listener; when the container is gone, its fd-store copy goes too.
fn adopt(fd: OwnedFd, pid: u32) {
    let forget = move || {
        let _ = crate::kernel::systemd::notify(
            &format!("FDSTOREREMOVE=1\nFDNAME=sysinfo-{pid}\n"),
            None,
        );
    };
    if let Err(e) = spawn_with(fd, pid, forget) {
        tracing::warn!(error = %e, pid, "no thread for a sysinfo listener");
    }
}

/// The container's pid and the listener from one runtime message.
fn receive(conn: &std::os::unix::net::UnixStream) -> Result<(u32, OwnedFd), String> {
    let (bytes, fds) = crate::kernel::syscall::recv_with_fds(conn, 1 << 16)
        .map_err(|e| format!("reading: {e}"))?;
    let state: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    // ContainerProcessState: "fds" names each fd sent, "pid" is the container's process.
    let index = state["fds"]
        .as_array()
        .and_then(|names| names.iter().position(|n| n == "seccompFd"))
        .ok_or("no seccompFd in the message")?;
    let pid = state["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or("no pid in the message")?;
    let mut fds = fds;
    if index >= fds.len() {
        return Err("the seccompFd was not attached".into());
    }
    Ok((pid, fds.swap_remove(index)))
}
