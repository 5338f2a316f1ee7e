//! `vproc serve [MOUNTPOINT]`: mounts the views and serves them in the foreground until
//! SIGTERM or SIGINT.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vproc::cgroup::resolve::Mode;
use vproc::fs::supervisor::{Options, Start};
use vproc::fs::Config;
use vproc::render::Renderer;

/// The initial pid namespace always has this inode (PROC_PID_INIT_INO).
const INIT_PIDNS: &str = "pid:[4026531836]";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to mount the views (created if missing).
    #[arg(default_value = "/var/lib/vproc")]
    mountpoint: PathBuf,
    #[command(flatten)]
    view: ViewArgs,
    /// (Upgrade hand-over from a predecessor:) the FUSE connection fd.
    #[arg(long, hide = true, requires_all = ["takeover_channels", "takeover_worker", "takeover_generation"])]
    takeover_conn: Option<i32>,
    /// (Upgrade hand-over:) the channel fds.
    #[arg(long, hide = true)]
    takeover_channels: Option<String>,
    /// (Upgrade hand-over:) the worker still serving.
    #[arg(long, hide = true)]
    takeover_worker: Option<i32>,
    /// (Upgrade hand-over:) its generation.
    #[arg(long, hide = true)]
    takeover_generation: Option<u64>,
}

/// `vproc serve-worker`: the worker process a supervisor starts (not for direct use).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Channel fds, one thread each.
    #[arg(long)]
    fds: String,
    /// Written to once serving.
    #[arg(long)]
    ready_fd: i32,
    /// Where load averages are saved for the next worker.
    #[arg(long)]
    load_state: Option<PathBuf>,
    #[command(flatten)]
    view: ViewArgs,
}

/// How views are computed; the supervisor passes the same options to its workers.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Worker threads, each with its own /dev/fuse channel [default: 2 per CPU, 2 to 16].
    #[arg(long)]
    threads: Option<usize>,
    /// Judge every reader by its own cgroup instead of its pid namespace's init (Kubernetes
    /// pods with shareProcessNamespace).
    #[arg(long)]
    per_caller: bool,
    /// How long host files and cgroup values may be reused between reads, in milliseconds
    /// (0: read them for every open).
    #[arg(long, default_value_t = 100)]
    cache_ms: u64,
}

impl ViewArgs {
    fn renderer(&self) -> Result<Renderer, vproc::cgroup::Error> {
        let mode = if self.per_caller {
            Mode::PerCaller
        } else {
            Mode::Container
        };
        Renderer::for_host(mode, std::time::Duration::from_millis(self.cache_ms))
    }
}

pub fn run_worker(a: WorkerArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use vproc::fs::takeover::adopt_fuse_fd;
    let renderer = a.view.renderer()?;
    let channels = vproc::fs::supervisor::parse_fds(&a.fds)?
        .into_iter()
        // SAFETY: the supervisor passed these fds to this process for it to own.
        .map(|fd| unsafe { adopt_fuse_fd(fd) })
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: as above; the ready fd is a pipe's write end for this process alone.
    let ready = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(a.ready_fd) };
    vproc::fs::worker::run_worker(Arc::new(renderer), channels, ready, a.load_state)?;
    Ok(ExitCode::SUCCESS)
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
    // Fail here, before mounting, if the cgroup model cannot be read.
    a.view.renderer()?;
    let opts = Options {
        mountpoint: a.mountpoint,
        threads: a.view.threads.unwrap_or_else(Config::default_threads),
        per_caller: a.view.per_caller,
        cache_ms: a.view.cache_ms,
    };
    let start = match (
        a.takeover_conn,
        a.takeover_channels,
        a.takeover_worker,
        a.takeover_generation,
    ) {
        (Some(conn), Some(ch), Some(worker), Some(generation)) => Start::Takeover {
            conn,
            channels: vproc::fs::supervisor::parse_fds(&ch)?,
            worker,
            generation,
        },
        _ => Start::Mount,
    };
    vproc::fs::supervisor::run(opts, start)?;
    Ok(ExitCode::SUCCESS)
}
