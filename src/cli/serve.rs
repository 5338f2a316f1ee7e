//! `vproc serve [MOUNTPOINT]`: mounts the views and serves them in the foreground until
//! SIGTERM or SIGINT.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vproc::cgroup::resolve::Mode;
use vproc::fs::Config;
use vproc::render::Renderer;

/// The initial pid namespace always has this inode (PROC_PID_INIT_INO).
const INIT_PIDNS: &str = "pid:[4026531836]";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to mount the views (created if missing).
    #[arg(default_value = "/var/lib/vproc")]
    mountpoint: PathBuf,
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
    let mode = if a.per_caller {
        Mode::PerCaller
    } else {
        Mode::Container
    };
    let renderer = Renderer::for_host(mode, std::time::Duration::from_millis(a.cache_ms))?;
    let threads = a.threads.unwrap_or_else(Config::default_threads);
    let cfg = Config {
        mountpoint: a.mountpoint,
        threads,
    };
    vproc::fs::serve(Arc::new(renderer), &cfg)?;
    Ok(ExitCode::SUCCESS)
}
