//! The container's init (pid 1 in its pid namespace): joins the container's cgroup, enters a
//! cgroup namespace rooted there, builds the root, then runs the command as its child, forwards
//! every signal it receives to it, reaps every zombie, and exits with the command's status.

use super::rootfs::{self, Scratch};
use super::{sys, Error, RunConfig};
use crate::kernel::mountinfo::Mounts;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// What the init needs from the parent (a copy: the init has its own address space).
pub struct InitContext<'a> {
    pub cfg: &'a RunConfig,
    pub scratch: Scratch,
    pub cgroup_procs: Vec<PathBuf>,
    pub cgroups: Mounts,
    /// The init's end of the socket the parent sends the views on.
    pub handoff: &'a OwnedFd,
    pub signals: SigSet,
}

/// Exit status for failures before the command ran (docker uses 125 for its own errors).
const SETUP_FAILED: isize = 125;

/// The init's whole life; the return value is its exit status.
pub fn main(ctx: &InitContext<'_>) -> isize {
    if let Err(e) = setup(ctx) {
        eprintln!("vproc: {e}");
        return SETUP_FAILED;
    }
    supervise(ctx)
}

fn setup(ctx: &InitContext<'_>) -> Result<(), Error> {
    // If `vproc run` is killed outright (SIGKILL), the container goes with it instead of
    // running on unsupervised.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(Error::sys("setting the parent-death signal"))?;
    // (Had the parent died before the signal was armed, the views never arrive: the init
    // stops there. Its own getppid() is 0 in the new pid namespace, so it cannot ask.)
    // Join the container's cgroup before the cgroup namespace is made, so the namespace's root
    // is the container's cgroup ("0" means the writing process).
    for f in &ctx.cgroup_procs {
        std::fs::write(f, "0").map_err(|e| Error::io("joining", f, e))?;
    }
    super::handoff::send_joined(ctx.handoff)?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .map_err(Error::sys("creating the cgroup namespace"))?;
    // The views are named by this init's pid, so the parent sends them once it exists; they go
    // on the new root's fresh /proc, before pivot_root.
    rootfs::build(ctx.cfg, &ctx.scratch, &ctx.cgroups, || {
        super::handoff::recv_views(ctx.handoff)
    })?;
    let hostname = ctx
        .cfg
        .hostname
        .clone()
        .unwrap_or_else(|| ctx.cfg.name.clone());
    nix::unistd::sethostname(&hostname).map_err(Error::sys("setting the hostname"))?;
    if !ctx.cfg.net_host {
        sys::loopback_up().map_err(|e| Error::io("bringing up", "lo", e))?;
    }
    if ctx.cfg.time_ns {
        enter_time_namespace()?;
    }
    // The filter is inherited by the command; the listener goes to vproc run, which answers
    // the calls (this copy is closed here).
    let listener = if ctx.cfg.sysinfo {
        match crate::kernel::syscall::install_sysinfo_listener() {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("vproc: sysinfo(2) is not answered for the container ({e}): `free` shows the host's memory");
                None
            }
        }
    } else {
        None
    };
    // Until this word, `vproc exec` would join namespaces still being made.
    super::handoff::send_ready(ctx.handoff, listener.as_ref())
}

/// Puts the command (this init's children) in a time namespace whose boot clock starts when
/// this init did: `/proc/uptime`, `sysinfo` and every process's start time then count from
/// the container's start, so `ps` elapsed times (uptime minus start time) are right instead of
/// wrapping, and agree with the uptime view (computed from the same start). The init itself
/// stays in the host's time namespace (unshare applies to children); kernels without time
/// namespaces (before 5.6) get a warning and the host's clock.
fn enter_time_namespace() -> Result<(), Error> {
    let flag = nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    if let Err(e) = nix::sched::unshare(flag) {
        eprintln!("vproc: no time namespace ({e}): `ps` elapsed times will be off");
        return Ok(());
    }
    let ticks =
        crate::kernel::pid::start_ticks(std::path::Path::new("/proc/self")).map_err(|e| {
            Error::io(
                "reading",
                "/proc/self/stat",
                std::io::Error::other(e.to_string()),
            )
        })?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .unwrap_or(100);
    let start_ns = i128::from(ticks) * 1_000_000_000 / i128::from(hz);
    let offset = -start_ns;
    let (secs, nsecs) = (
        offset.div_euclid(1_000_000_000),
        offset.rem_euclid(1_000_000_000),
    );
    std::fs::write(
        "/proc/self/timens_offsets",
        format!("boottime {secs} {nsecs}\n"),
    )
    .map_err(|e| Error::io("writing", "/proc/self/timens_offsets", e))
}

fn supervise(ctx: &InitContext<'_>) -> isize {
    // The init is single-threaded (a clone of a single-threaded parent).
    let child = match sys::fork() {
        Ok(None) => exec_command(ctx),
        Ok(Some(child)) => child,
        Err(e) => {
            eprintln!("vproc: starting the command: {e}");
            return SETUP_FAILED;
        }
    };
    let mut waited = ctx.signals;
    waited.add(Signal::SIGCHLD);
    loop {
        let sig = match waited.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(child, sig);
            continue;
        }
        // Reap every zombie; the container ends when the command does.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == child => return code as isize,
                Ok(WaitStatus::Signaled(p, s, _)) if p == child => return 128 + s as isize,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// In the command's process: drop the blocked signal mask, set identity, environment and
/// directory, and exec. Never returns.
fn exec_command(ctx: &InitContext<'_>) -> Pid {
    let cfg = ctx.cfg;
    let _ =
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if let Some(dir) = &cfg.workdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            eprintln!("vproc: working directory {}: {e}", dir.display());
            std::process::exit(SETUP_FAILED as i32);
        }
    }
    if let Some((uid, gid)) = cfg.user {
        let gid = nix::unistd::Gid::from_raw(gid.unwrap_or(uid));
        let ok = nix::unistd::setgroups(&[gid])
            .and_then(|_| nix::unistd::setgid(gid))
            .and_then(|_| nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)));
        if let Err(e) = ok {
            eprintln!("vproc: switching to user {uid}: {e}");
            std::process::exit(SETUP_FAILED as i32);
        }
    }
    let args: Vec<CString> = cfg
        .command
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = environment(cfg)
        .into_iter()
        .filter_map(|kv| CString::new(kv).ok())
        .collect();
    let err = nix::unistd::execvpe(&args[0], &args, &env).unwrap_err();
    let code = match err {
        nix::errno::Errno::ENOENT => {
            eprintln!("vproc: {}: command not found", cfg.command[0]);
            127
        }
        e => {
            eprintln!("vproc: {}: {e}", cfg.command[0]);
            126
        }
    };
    std::process::exit(code)
}

/// A clean environment, as Docker gives: PATH, HOSTNAME, HOME, TERM (if set here), then `-e`.
fn environment(cfg: &RunConfig) -> Vec<String> {
    let home = match cfg.user {
        Some((uid, _)) if uid != 0 => "/",
        _ => "/root",
    };
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        format!("HOSTNAME={}", cfg.hostname.as_deref().unwrap_or(&cfg.name)),
        format!("HOME={home}"),
        "container=vproc".to_owned(),
    ];
    if let Some(t) = std::env::var_os("TERM") {
        env.push(format!("TERM={}", String::from_utf8_lossy(t.as_bytes())));
    }
    for kv in &cfg.env {
        let kv = if kv.contains('=') {
            kv.clone()
        } else {
            // `-e NAME` passes this process's value, as docker does.
            match std::env::var(kv) {
                Ok(v) => format!("{kv}={v}"),
                Err(_) => continue,
            }
        };
        let key = kv.split('=').next().unwrap_or_default().to_owned();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    env
}
