//! `vproc serve [MOUNTPOINT]`: mounts the views and serves them in the foreground until
//! SIGTERM or SIGINT; and the internal `serve-worker` and `handover-versions` commands.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vproc::cgroup::resolve::Mode;
use vproc::compose::Composer;
use vproc::fs::supervisor::handover::{self, Handover};
use vproc::fs::supervisor::{Options, Predecessor, Status};
use vproc::fs::Config;

/// The initial pid namespace always has this inode (PROC_PID_INIT_INO).
const INIT_PIDNS: &str = "pid:[4026531836]";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to mount the views (created if missing).
    #[arg(default_value = "/var/lib/vproc")]
    mountpoint: PathBuf,
    #[command(flatten)]
    view: ViewArgs,
    /// If a vproc already serves the mountpoint, take its connections over instead of failing
    /// (a DaemonSet's new pod during a rolling update); the running one stands by until it is
    /// stopped, and then leaves the mounts in place.
    #[arg(long)]
    take_over: bool,
    /// After mounting afresh, rebind the views into running containers whose views died with
    /// an earlier daemon (what `vproc-mount remount --all` does).
    #[arg(long)]
    repair_containers: bool,
    #[command(flatten)]
    legacy: LegacyHandover,
}

/// The hand-over of vproc versions before the typed message (version 0), still accepted so an
/// older daemon can be upgraded to this one.
#[derive(Debug, Args)]
struct LegacyHandover {
    #[arg(long, hide = true, requires_all = ["takeover_channels", "takeover_worker", "takeover_generation"])]
    takeover_conn: Option<i32>,
    #[arg(long, hide = true)]
    takeover_channels: Option<String>,
    #[arg(long, hide = true)]
    takeover_worker: Option<i32>,
    #[arg(long, hide = true)]
    takeover_generation: Option<u64>,
}

/// `vproc serve-worker`: the worker process a supervisor starts (not for direct use).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The mountpoint served (names the state files).
    #[arg(long)]
    mountpoint: PathBuf,
    /// The views tree's channel fds, one thread each.
    #[arg(long)]
    views_fds: String,
    /// The containers tree's channel fds.
    #[arg(long, default_value = "")]
    containers_fds: String,
    /// Written to once serving.
    #[arg(long)]
    ready_fd: i32,
    /// This worker's generation.
    #[arg(long)]
    generation: u64,
    #[command(flatten)]
    view: ViewArgs,
}

/// How views are computed; the supervisor passes the same options to its workers.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Worker threads, each with its own /dev/fuse channel [default: 2 per CPU, 2 to 16].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Judge every reader by its own cgroup instead of its pid namespace's init (Kubernetes
    /// pods with shareProcessNamespace).
    #[arg(long)]
    per_caller: bool,
    /// How long host files and cgroup values may be reused between reads, in milliseconds
    /// (0: read them for every read).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    cache_ms: u64,
    /// Also serve Prometheus metrics (`/metrics`, `/healthz`) on this TCP address, e.g.
    /// 127.0.0.1:9477; they are always on the unix socket /run/vproc/serve/<mountpoint>.sock.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_addr: Option<std::net::SocketAddr>,
}

impl ViewArgs {
    fn composer(&self) -> Result<Composer, vproc::cgroup::Error> {
        let mode = if self.per_caller {
            Mode::PerCaller
        } else {
            Mode::Container
        };
        Composer::for_host(mode, std::time::Duration::from_millis(self.cache_ms))
    }

    fn threads(&self) -> usize {
        self.threads
            .map_or_else(Config::default_threads, usize::from)
    }
}

fn fd_list(s: &str) -> Result<Vec<i32>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|v| v.trim().parse().map_err(|_| format!("bad fd list `{s}`")))
        .collect()
}

pub fn run_worker(a: WorkerArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let composer = a.view.composer()?;
    let fds = vproc::fs::worker::InheritedFds {
        views: fd_list(&a.views_fds)?,
        containers: fd_list(&a.containers_fds)?,
        ready: a.ready_fd,
    };
    vproc::fs::worker::run_inherited(
        Arc::new(composer),
        &a.mountpoint,
        a.generation,
        fds,
        a.view.metrics_addr,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `vproc repair-views`: what a supervisor started with --repair-containers runs once it
/// serves (`vproc-mount remount --all`, in a process of its own).
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Where the views are served.
    #[arg(long)]
    source: PathBuf,
}

pub fn repair_views(a: RepairArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = vproc_mount::remount_all(&a.source, &vproc_mount::RemountOptions::default())?;
    let mut failed = 0;
    for r in &report {
        match &r.error {
            None => tracing::info!(pid = r.pid, targets = ?r.targets, "views repaired"),
            Some(e) => {
                failed += 1;
                tracing::warn!(pid = r.pid, error = %e, "views not repaired");
            }
        }
    }
    tracing::info!(
        repaired = report.len() - failed,
        failed,
        "running containers' views repaired"
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `vproc release-mounts`: run by a stopping daemon in a container, whose unmount does not
/// reach the host's copies of its mounts.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// A FUSE device (`major:minor`) whose mounts to detach; repeated.
    #[arg(long = "device", required = true)]
    devices: Vec<String>,
}

pub fn release_mounts(a: ReleaseArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let n = vproc::fs::mount::release_in_host_namespace(&a.devices)?;
    tracing::info!(detached = n, "the host's copies of the mounts");
    Ok(ExitCode::SUCCESS)
}

/// `vproc sysinfo-agent`: see [`vproc::sysinfo::agent`].
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The socket runc and crun connect to (their config's `linux.seccomp.listenerPath`).
    #[arg(long, default_value = "/run/vproc/sysinfo.sock")]
    socket: PathBuf,
}

pub fn sysinfo_agent(a: AgentArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    vproc::sysinfo::agent(&a.socket)?;
    Ok(ExitCode::SUCCESS)
}

/// `vproc handover-versions`: the hand-over versions this binary reads, for a running daemon
/// deciding whether it may upgrade to it.
pub fn handover_versions() -> ExitCode {
    let v: Vec<String> = handover::READS.iter().map(u32::to_string).collect();
    println!("{}", v.join(" "));
    ExitCode::SUCCESS
}

pub fn run(a: ServeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // FUSE gives the caller's pid as seen from the daemon's pid namespace, and 0 for callers it
    // cannot see: only the host's namespace sees every container.
    let ns = std::fs::read_link("/proc/self/ns/pid")?;
    if ns.as_os_str() != INIT_PIDNS {
        return Err(format!(
            "vproc serve must run in the host's pid namespace (this one is {}): \
             use hostPID: true in Kubernetes, --pid=host in Docker",
            ns.display()
        )
        .into());
    }
    vproc::fs::supervisor::join_host_cgroup_namespace()?;
    // A container engine that binds the daemon's own cgroup at /sys/fs/cgroup hides every
    // other cgroup: each reader would get host values, silently.
    let partial = vproc::cgroup::Hierarchies::discover()?.partial_mounts();
    if let Some((at, root)) = partial.first() {
        return Err(format!(
            "vproc serve sees only part of the cgroup hierarchy at {} (the subtree {}), so it \
             would serve host values to every other container: mount the host's cgroups \
             (docker run -v /sys/fs/cgroup:/sys/fs/cgroup:ro; a hostPath volume of \
             /sys/fs/cgroup in Kubernetes)",
            at.display(),
            root.display()
        )
        .into());
    }
    let from_predecessor = match Handover::from_env() {
        Some(h) => Some(Predecessor::Exec(h?)),
        None => match (
            a.legacy.takeover_conn,
            a.legacy.takeover_channels.as_deref(),
            a.legacy.takeover_worker,
            a.legacy.takeover_generation,
        ) {
            (Some(conn), Some(ch), Some(worker), Some(generation)) => {
                Some(Predecessor::Exec(Handover::from_legacy(
                    &a.mountpoint,
                    conn,
                    fd_list(ch)?,
                    worker,
                    generation,
                    a.view.threads(),
                    a.view.cache_ms,
                    a.view.per_caller,
                )))
            }
            _ => None,
        },
    };
    let running = Status::read(&a.mountpoint).filter(|st| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.supervisor), None).is_ok()
    });
    let from_predecessor = match (from_predecessor, running) {
        (None, Some(st)) if a.take_over => {
            let (request, h) = vproc::fs::supervisor::takeover::Request::ask(
                &a.mountpoint,
                st.supervisor,
                std::time::Duration::from_secs(20),
            )?;
            Some(Predecessor::Peer(h, request))
        }
        (p, _) => p,
    };
    let opts = match &from_predecessor {
        // The running daemon's settings carry over.
        Some(Predecessor::Exec(h) | Predecessor::Peer(h, _)) => Options {
            mountpoint: h.mountpoint.clone(),
            threads: h.threads,
            per_caller: h.per_caller,
            cache_ms: h.cache_ms,
            metrics_addr: h.metrics_addr.or(a.view.metrics_addr),
            repair_containers: false,
        },
        None => Options {
            mountpoint: a.mountpoint,
            threads: a.view.threads(),
            per_caller: a.view.per_caller,
            cache_ms: a.view.cache_ms,
            metrics_addr: a.view.metrics_addr,
            repair_containers: a.repair_containers,
        },
    };
    // Fail here, before mounting, if the cgroup model cannot be read.
    a.view.composer()?;
    vproc::fs::supervisor::run(opts, from_predecessor)?;
    Ok(ExitCode::SUCCESS)
}
