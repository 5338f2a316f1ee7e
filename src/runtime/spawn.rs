//! The parent side of `vproc run` (and `vproc exec`): checks, the container's record and
//! cgroup, the clone of the init, its views (sent once it exists, since they are named by its
//! pid), signal forwarding, waiting, and teardown on every path (cgroup guard, scratch
//! directories, record).

use super::handoff::{self, Handoff};
use super::init::{self, InitContext};
use super::rootfs::Scratch;
use super::state::{self, Record};
use super::{sys, Error, RunConfig, Views};
use crate::cgroup::create::ContainerCgroup;
use crate::cgroup::{write, Hierarchies, ProcCgroups};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

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

/// The default cgroup parent: a level vproc owns, removed when its last container is gone.
pub const DEFAULT_CGROUP_PARENT: &str = "/vproc";

fn check(cfg: &RunConfig) -> Result<(), Error> {
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
    if crate::kernel::pid::own_thread_count() != Some(1) {
        return Err(Error::Threaded);
    }
    Ok(())
}

/// Runs a container; returns the command's exit status (128 + signal when it was killed).
pub fn run(cfg: &RunConfig, on_sysinfo: Option<super::OnSysinfo<'_>>) -> Result<i32, Error> {
    check(cfg)?;
    // Leftovers of containers whose `vproc run` was killed outright go first.
    for r in state::gc() {
        tracing::info!(container = %r.name, "removed what a dead container left behind");
    }
    if let Some(existing) = state::find(&cfg.name) {
        return Err(Error::NameInUse {
            name: cfg.name.clone(),
            pid: existing.run_pid,
        });
    }
    let h = Hierarchies::discover()?;
    let scratch = ScratchDirs::create(&state::base().join(&cfg.name))?;
    let mut cgroup = ContainerCgroup::create(&h, &cfg.cgroup_parent, &cfg.name)?;
    if cfg.cgroup_parent == DEFAULT_CGROUP_PARENT {
        cgroup.own_default_parent();
    }
    write::apply(cgroup.dirs(), &cfg.limits)?;
    let run_start = crate::kernel::pid::start_ticks(Path::new("/proc/self"))?;
    let mut record = Record {
        name: cfg.name.clone(),
        run_pid: std::process::id(),
        run_start,
        init_pid: None,
        ready: false,
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command: cfg.command.join(" "),
        memory: cfg.limits.memory,
        cpus: cfg
            .limits
            .cpu_quota_us
            .map(|q| (q, cfg.limits.cpu_period_us.unwrap_or(100_000))),
        cgroups: cgroup.leaves(),
        created_parents: cgroup.created_parents().to_vec(),
    };
    record
        .save()
        .map_err(|e| Error::io("recording the container in", record.dir(), e))?;
    let handoff = Handoff::new()?;
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
        handoff: &handoff.init,
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
    drop(handoff.init);
    record.init_pid = u32::try_from(init_pid.as_raw()).ok();
    let _ = record.save();
    // The container's own files, named by its init's pid, once it is in its cgroup.
    let joined = handoff::wait_joined(&handoff.parent);
    let views = match (&cfg.views, record.init_pid) {
        _ if !joined => Ok(Vec::new()),
        (Views::Source(src), Some(pid)) => {
            let open = || vproc_mount::open_views_of(&src.dir, pid);
            match src.mount_ns_of {
                Some(ns) => vproc_mount::with_mount_ns_of(ns, open),
                None => open(),
            }
        }
        _ => Ok(Vec::new()),
    };
    let sent = match views {
        Ok(v) => handoff::send_views(&handoff.parent, &v),
        Err(e) => {
            // The init gets nothing and stops; its exit status reports the failure.
            let _ = nix::sys::signal::kill(init_pid, Signal::SIGKILL);
            Err(e.into())
        }
    };
    let code = match sent {
        Ok(()) => {
            // Sent once the init has set up (nothing if it failed: then it is exiting).
            if let Some(listener) = handoff::recv_ready(&handoff.parent) {
                record.ready = true;
                let _ = record.save();
                if let (Some(l), Some(serve), Some(pid)) = (listener, on_sysinfo, record.init_pid) {
                    serve(l, pid);
                }
            }
            if let Some(f) = &cfg.pid_file {
                std::fs::write(f, format!("{init_pid}\n"))
                    .map_err(|e| Error::io("writing", f, e))?;
            }
            Ok(wait_forwarding(init_pid, &waited))
        }
        Err(e) => {
            let _ = waitpid(init_pid, None);
            Err(e)
        }
    };
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&waited), None);
    if let Ok(code) = code {
        let oom = write::oom_kills(cgroup.dirs());
        if oom > 0 {
            eprintln!(
                "vproc: the container's memory limit was hit: the kernel's OOM killer killed {oom} process(es) (exit status {code})"
            );
        }
    }
    drop(cgroup);
    drop(scratch);
    code
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

/// The container's directory under `/run/vproc`: its record, and the host directories the init
/// mounts on (in its own namespace). Removed at the end, on every path. Only empty directories
/// are removed, never recursively, so nothing mounted there can be touched.
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
        for d in [&self.root, &self.overlay] {
            let _ = std::fs::remove_dir(d);
        }
        for f in ["state", "state.tmp"] {
            let _ = std::fs::remove_file(self.base.join(f));
        }
        let _ = std::fs::remove_dir(&self.base);
    }
}

/// The host pid of a running container's init: `target` is a container name (`vproc run
/// --name`) or any host pid of the container.
pub fn resolve_target(target: &str) -> Result<u32, Error> {
    let pid = target.parse::<u32>().ok();
    // A container still being set up has namespaces that are not final (its mounts, its
    // clock): whoever joined them now would see neither its root nor its time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let record = match pid {
            Some(p) => state::list().into_iter().find(|r| r.init_pid == Some(p)),
            None => state::find(target),
        };
        match (record, pid) {
            (Some(r), _) if r.ready || !r.is_alive() => {
                return r
                    .init_pid
                    .or(pid)
                    .ok_or_else(|| Error::NoSuchContainer(target.to_owned()));
            }
            // Any other process: not a vproc container's init, nothing to wait for.
            (None, Some(p)) => return Ok(p),
            (None, None) => return Err(Error::NoSuchContainer(target.to_owned())),
            (Some(_), _) if std::time::Instant::now() > deadline => {
                return Err(Error::StillStarting(target.to_owned()));
            }
            (Some(_), _) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// `vproc exec TARGET -- COMMAND`: runs a command in the namespaces and cgroup of a running
/// container (by name or by a pid in it); returns its exit status.
pub fn exec(target: &str, command: &[String]) -> Result<i32, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    if command.is_empty() {
        return Err(Error::NoCommand);
    }
    let pid = resolve_target(target)?;
    let cgroup_path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text =
        std::fs::read_to_string(&cgroup_path).map_err(|e| Error::io("reading", &cgroup_path, e))?;
    let h = Hierarchies::discover()?;
    let mut membership = ProcCgroups::parse(&text);
    membership.strip_init_scope();
    for f in h.procs_files(&membership) {
        std::fs::write(&f, "0").map_err(|e| Error::io("joining", &f, e))?;
    }
    // The mount namespace last: after it, /proc paths are the container's.
    let namespaces = [
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        // The command's, which the init made for its children.
        (
            "time_for_children",
            CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        ),
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
    match sys::fork().map_err(Error::sys("starting the command"))? {
        None => {
            let _ = std::env::set_current_dir("/");
            let err = match nix::unistd::execvp(&args[0], &args) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            eprintln!("vproc: {}: {err}", command[0]);
            std::process::exit(if err == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            });
        }
        Some(child) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, c)) => Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => Ok(128 + s as i32),
            _ => Ok(125),
        },
    }
}
