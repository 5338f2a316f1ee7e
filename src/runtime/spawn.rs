//! The parent side of `vproc run` (and `vproc exec`): checks, the container's cgroup, the views
//! (a running daemon's, or an embedded server in its own process), the clone of the init,
//! signal forwarding, waiting, and teardown on every path (cgroup guard, server stop, scratch
//! directories).

use super::init::{self, InitContext};
use super::limits::ContainerCgroup;
use super::rootfs::Scratch;
use super::{sys, Error, RunConfig, Views};
use crate::cgroup::Hierarchies;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Signals forwarded to the command.
const FORWARDED: [Signal; 8] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// Runs a container; returns the command's exit status (128 + signal when it was killed).
pub fn run(cfg: &RunConfig) -> Result<i32, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    if cfg.command.is_empty() {
        return Err(Error::NoCommand);
    }
    if let Some(r) = &cfg.rootfs {
        if !r.is_dir() {
            return Err(Error::RootfsMissing(r.clone()));
        }
    }
    let threads = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_owned()))
        });
    if threads.as_deref() != Some("1") {
        return Err(Error::Threaded);
    }
    let h = Hierarchies::discover()?;
    let scratch_dir = scratch_base().join(&cfg.name);
    let scratch = ScratchDirs::create(&scratch_dir)?;
    let cgroup = ContainerCgroup::create(&h, &cfg.cgroup_parent, &cfg.name, &cfg.limits)?;
    let mut server = None;
    let source = match &cfg.views {
        Views::None => None,
        Views::Dir(d) => Some(d.clone()),
        Views::Auto => {
            let default = Path::new(vproc_mount::DEFAULT_SOURCE);
            if crate::fs::serves_views(default) {
                Some(default.to_owned())
            } else {
                let mnt = scratch_dir.join("views");
                server = Some(EmbeddedServer::start(&mnt)?);
                Some(mnt)
            }
        }
    };
    let views = match &source {
        Some(s) => vproc_mount::open_views(s)?,
        None => Vec::new(),
    };
    let mut signals = SigSet::empty();
    for s in FORWARDED {
        signals.add(s);
    }
    let mut waited = signals;
    waited.add(Signal::SIGCHLD);
    // Blocked before the clone: the init inherits the mask and takes them with sigwait (an init
    // ignores default-action signals from outside its namespace unless they are blocked).
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&waited), None)
        .map_err(Error::sys("blocking signals"))?;
    let ctx = InitContext {
        cfg,
        scratch: Scratch {
            root: scratch.root.clone(),
            overlay: scratch.overlay.clone(),
        },
        cgroup_procs: cgroup.procs_files(),
        cgroups: h.mounts().clone(),
        views: &views,
        signals,
    };
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if !cfg.net_host {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let init_pid = sys::clone_process(&mut || init::main(&ctx), flags)
        .map_err(Error::sys("creating the container"))?;
    drop(ctx);
    drop(views);
    if let Some(f) = &cfg.pid_file {
        std::fs::write(f, format!("{init_pid}\n")).map_err(|e| Error::io("writing", f, e))?;
    }
    let code = wait_forwarding(init_pid, &waited);
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&waited), None);
    let oom = cgroup.oom_kills();
    if oom > 0 {
        eprintln!(
            "vproc: the container's memory limit was hit: the kernel's OOM killer killed {oom} process(es) (exit status {code})"
        );
    }
    drop(cgroup);
    if let Some(s) = server.take() {
        s.stop();
    }
    drop(scratch);
    Ok(code)
}

fn wait_forwarding(init: Pid, waited: &SigSet) -> i32 {
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return 125,
            Err(_) => {}
        }
        match waited.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                let _ = nix::sys::signal::kill(init, sig);
            }
        }
    }
}

fn scratch_base() -> PathBuf {
    if Path::new("/run").is_dir() {
        PathBuf::from("/run/vproc")
    } else {
        std::env::temp_dir().join("vproc")
    }
}

/// Host directories the init mounts on (in its own namespace); removed at the end. Only empty
/// directories are removed, never recursively, so nothing mounted there can be touched.
struct ScratchDirs {
    base: PathBuf,
    root: PathBuf,
    overlay: PathBuf,
}

impl ScratchDirs {
    fn create(base: &Path) -> Result<Self, Error> {
        let (root, overlay) = (base.join("root"), base.join("overlay"));
        for d in [&root, &overlay] {
            std::fs::create_dir_all(d).map_err(|e| Error::io("creating", d, e))?;
        }
        Ok(Self {
            base: base.to_owned(),
            root,
            overlay,
        })
    }
}

impl Drop for ScratchDirs {
    fn drop(&mut self) {
        for d in [
            &self.root,
            &self.overlay,
            &self.base.join("views"),
            &self.base,
        ] {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `vproc serve` in a child process of its own (its own process group, so a terminal's Ctrl-C
/// goes to the container, not to it), for the container's lifetime.
struct EmbeddedServer {
    pid: Pid,
    mountpoint: PathBuf,
}

impl EmbeddedServer {
    fn start(mountpoint: &Path) -> Result<Self, Error> {
        // SAFETY: the parent is single-threaded here (checked in `run`).
        match unsafe { nix::unistd::fork() }.map_err(Error::sys("starting the view server"))? {
            nix::unistd::ForkResult::Child => {
                let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
                let code = match crate::fs::serve_default(mountpoint) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("vproc: view server: {e}");
                        1
                    }
                };
                std::process::exit(code);
            }
            nix::unistd::ForkResult::Parent { child } => {
                let s = EmbeddedServer {
                    pid: child,
                    mountpoint: mountpoint.to_owned(),
                };
                let deadline = Instant::now() + Duration::from_secs(10);
                while !crate::fs::serves_views(mountpoint) {
                    if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
                        waitpid(child, Some(WaitPidFlag::WNOHANG))
                    {
                        return Err(Error::Serve("it exited".into()));
                    }
                    if Instant::now() > deadline {
                        s.stop();
                        return Err(Error::Serve("no mount after 10 s".into()));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(s)
            }
        }
    }

    fn stop(&self) {
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    break;
                }
                _ => break,
            }
        }
        if crate::fs::fuse_mount_at(&self.mountpoint).is_some() {
            let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if nix::sys::signal::kill(self.pid, None).is_ok() {
            self.stop();
        }
    }
}

/// `vproc exec PID -- COMMAND`: runs a command in the namespaces and cgroup of a running
/// container's process; returns its exit status.
pub fn exec(pid: u32, command: &[String]) -> Result<i32, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    if command.is_empty() {
        return Err(Error::NoCommand);
    }
    let cgroup_path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text =
        std::fs::read_to_string(&cgroup_path).map_err(|e| Error::io("reading", &cgroup_path, e))?;
    let h = Hierarchies::discover()?;
    let cg = crate::cgroup::ProcCgroups::parse(&text);
    let mut procs = Vec::new();
    for m in &h.mounts().v1 {
        if let Some(p) = cg.path_for_controllers(&m.controllers) {
            let rel = p.strip_prefix("/").unwrap_or(p);
            procs.push(m.mount_point.join(rel).join("cgroup.procs"));
        }
    }
    if let (Some(v2), Some(p)) = (&h.mounts().v2, cg.unified()) {
        if h.mounts().v1.is_empty() {
            procs.push(
                v2.mount_point
                    .join(p.strip_prefix("/").unwrap_or(p))
                    .join("cgroup.procs"),
            );
        }
    }
    for f in &procs {
        std::fs::write(f, "0").map_err(|e| Error::io("joining", f, e))?;
    }
    // The mount namespace last: after it, /proc paths are the container's.
    let namespaces = [
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let files: Vec<(std::fs::File, CloneFlags)> = namespaces
        .iter()
        .map(|(n, f)| {
            let p = PathBuf::from(format!("/proc/{pid}/ns/{n}"));
            std::fs::File::open(&p)
                .map(|file| (file, *f))
                .map_err(|e| Error::io("opening", &p, e))
        })
        .collect::<Result<_, _>>()?;
    for (f, flag) in &files {
        nix::sched::setns(f, *flag).map_err(Error::sys("joining a namespace of the container"))?;
    }
    let args: Vec<std::ffi::CString> = command
        .iter()
        .map(|a| std::ffi::CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    // The new pid namespace applies to children only.
    // SAFETY: this process is single-threaded (vproc exec starts no threads).
    match unsafe { nix::unistd::fork() }.map_err(Error::sys("starting the command"))? {
        nix::unistd::ForkResult::Child => {
            let _ = std::env::set_current_dir("/");
            let err = nix::unistd::execvp(&args[0], &args).unwrap_err();
            eprintln!("vproc: {}: {err}", command[0]);
            std::process::exit(if err == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            });
        }
        nix::unistd::ForkResult::Parent { child } => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, c)) => Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => Ok(128 + s as i32),
            _ => Ok(125),
        },
    }
}
