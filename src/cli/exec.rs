//! `vproc exec PID -- COMMAND`: runs a command inside a running container.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Host pid of a process of the container (e.g. from `vproc run --pid-file`).
    pid: u32,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn run(a: ExecArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let code = vproc::runtime::exec(a.pid, &a.command)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}
