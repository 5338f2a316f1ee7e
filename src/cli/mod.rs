//! Command-line arguments and the glue from each subcommand to the library.

mod exec;
mod ps;
mod run;
mod serve;
mod show;
mod status;
mod upgrade;
mod webhook;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Containers that see their own resources: per-container /proc and /sys views.
#[derive(Debug, Parser)]
#[command(name = "vproc", version, about)]
pub struct Args {
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mount the views and serve them to every reader, in the foreground.
    Serve(serve::ServeArgs),
    /// Show what a running `vproc serve` is doing: its workers, reads per view, the containers
    /// it serves (or its metrics, or the same as JSON).
    Status(status::StatusArgs),
    /// Upgrade a running `vproc serve` to the binary now on disk, without a gap.
    Upgrade(upgrade::UpgradeArgs),
    #[command(hide = true)]
    ServeWorker(serve::WorkerArgs),
    /// Print the upgrade hand-over versions this binary reads (for a running daemon).
    #[command(hide = true)]
    HandoverVersions,
    /// Rebind dead views of running containers (run by `serve --repair-containers`).
    #[command(hide = true)]
    RepairViews(serve::RepairArgs),
    /// Detach the host's copies of a stopping daemon's mounts (run by `serve` in a container).
    #[command(hide = true)]
    ReleaseMounts(serve::ReleaseArgs),
    /// Print one view as a process would read it (no FUSE needed).
    Show(show::ShowArgs),
    /// Run a command in a new container with limits and vproc's views.
    Run(Box<run::RunArgs>),
    /// Run a command inside a running container (by name or pid).
    Exec(exec::ExecArgs),
    /// List the running containers of `vproc run`.
    Ps,
    /// Remove what containers whose `vproc run` was killed left behind (cgroups, directories).
    Gc,
    /// Serve the Kubernetes admission webhook that adds the views to pods that ask for them.
    Webhook(webhook::WebhookArgs),
    /// Answer sysinfo(2) for runc and crun containers (their seccomp listenerPath).
    SysinfoAgent(serve::AgentArgs),
}

impl Args {
    /// The log level when neither --log-level nor RUST_LOG is given: the runtime's embedded
    /// server logs only warnings, so a container's output is not mixed with the daemon's.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Run(_) | Command::Exec(_) => "warn",
            _ => "info",
        }
    }

    /// `vproc serve` passes its log level to its workers and to the binary an upgrade execs
    /// (through `RUST_LOG`, unless that is set already), so they log as it does. Call it
    /// before any thread starts.
    pub fn pass_log_level_on(&self, level: &str) {
        if matches!(self.command, Command::Serve(_)) && std::env::var_os("RUST_LOG").is_none() {
            std::env::set_var("RUST_LOG", level);
        }
    }

    /// The exit status for an error: `vproc run` and `vproc exec` use 125 for their own
    /// failures (as Docker does), so a command's own statuses stay distinguishable.
    pub fn failure_code(&self) -> u8 {
        match self.command {
            Command::Run(_) | Command::Exec(_) => 125,
            _ => 1,
        }
    }

    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<ExitCode, Box<dyn std::error::Error>> {
        match self.command {
            Command::Serve(a) => serve::run(a),
            Command::Status(a) => status::run(a),
            Command::Upgrade(a) => upgrade::run(a),
            Command::ServeWorker(a) => serve::run_worker(a),
            Command::HandoverVersions => Ok(serve::handover_versions()),
            Command::RepairViews(a) => serve::repair_views(a),
            Command::ReleaseMounts(a) => serve::release_mounts(a),
            Command::Show(a) => show::run(a),
            Command::Run(a) => run::run(*a),
            Command::Exec(a) => exec::run(a),
            Command::Ps => ps::ps(),
            Command::Gc => ps::gc(),
            Command::Webhook(a) => webhook::run(a),
            Command::SysinfoAgent(a) => serve::sysinfo_agent(a),
        }
    }
}

/// Logs to stderr, one line per event, at `level` unless RUST_LOG says otherwise.
pub fn init_logging(level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
