//! `vproc exec NAME|PID -- COMMAND`: runs a command inside a running container.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The container: its name (`vproc run --name`, `vproc ps`) or the host pid of a process in
    /// it (e.g. from `vproc run --pid-file`).
    target: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn run(a: ExecArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let code = vproc::runtime::exec(&a.target, &a.command)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}
