//! `vproc show VIEW [--pid PID]`: renders one view for a process and prints it.

use clap::Args;
use std::io::Write;
use std::process::ExitCode;
use vproc::cgroup::resolve::{Mode, Resolver};
use vproc::cgroup::Hierarchies;
use vproc::compose::{Composer, Served};
use vproc::host::HostRoots;
use vproc::views::ViewId;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The view: meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats or online.
    view: String,
    /// The process whose view to render (default: this process).
    #[arg(long)]
    pid: Option<u32>,
    /// Judge the process by its own cgroup, not its pid namespace's init.
    #[arg(long)]
    per_caller: bool,
}

pub fn run(a: ShowArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let view = ViewId::from_name(&a.view)
        .ok_or_else(|| format!("unknown view `{}` (one of: {})", a.view, ViewId::names()))?;
    let mode = if a.per_caller {
        Mode::PerCaller
    } else {
        Mode::Container
    };
    let composer = Composer::new(
        Resolver::new(Hierarchies::discover()?, mode)?,
        HostRoots::default(),
    );
    let pid = a.pid.unwrap_or_else(std::process::id);
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!("no process {pid}").into());
    }
    let mut out = Vec::new();
    if composer.compose_for_pid(view, pid, &mut out) == Served::HostFallback {
        return Err(format!(
            "pid {pid} could not be resolved to a container (it exited, or its cgroups are unreadable)"
        )
        .into());
    }
    std::io::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}
