//! The `vproc` command: parses arguments and turns one `Result` into an exit code, printing the
//! error with its whole cause chain.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// Subcommands whose own failures exit 125 (Docker's convention), so the contained command's
/// statuses stay distinguishable; argument errors included.
const RUNTIME_COMMANDS: [&str; 2] = ["run", "exec"];

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let runtime = std::env::args()
                .skip(1)
                .find(|a| !a.starts_with('-'))
                .is_some_and(|c| RUNTIME_COMMANDS.contains(&c.as_str()));
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ if runtime => 125,
                _ => 2,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let level = args
        .log_level
        .clone()
        .unwrap_or_else(|| args.default_log_level().to_owned());
    args.pass_log_level_on(&level);
    cli::init_logging(&level);
    let failure = args.failure_code();
    match args.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vproc: {}", vproc::kernel::error_chain(e.as_ref()));
            ExitCode::from(failure)
        }
    }
}
