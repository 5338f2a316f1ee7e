//! `vproc upgrade [MOUNTPOINT]`: signals the running daemon (SIGHUP) and waits until a worker
//! of the binary now on disk serves.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use vproc::fs::supervisor::Status;

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The mountpoint the daemon serves.
    #[arg(default_value = "/var/lib/vproc")]
    mountpoint: PathBuf,
    /// How long to wait for the new version, in seconds (systemd's default for a reload: the
    /// daemon gives the new binary 60 s to answer, then starts its worker).
    #[arg(long, default_value_t = 90)]
    timeout: u64,
}

pub fn run(a: UpgradeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let before = Status::read(&a.mountpoint).ok_or_else(|| {
        format!(
            "no vproc serve is running for {} (no status file)",
            a.mountpoint.display()
        )
    })?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before.supervisor),
        nix::sys::signal::Signal::SIGHUP,
    )?;
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    while Instant::now() < deadline {
        if let Some(now) = Status::read(&a.mountpoint) {
            if now.refusals > before.refusals {
                return Err(
                    "the daemon refused the upgrade and keeps serving the running version (its log says why)"
                        .into(),
                );
            }
            // Counted by upgrades, not by a new worker alone: a worker that crashes while the
            // new binary is asked is replaced too, by the old binary.
            if now.upgrades > before.upgrades && now.worker != before.worker {
                println!(
                    "upgraded: generation {}, worker {}",
                    now.generation, now.worker
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!(
        "the daemon did not report a new worker within {} s (see its log)",
        a.timeout
    )
    .into())
}
