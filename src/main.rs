//! The `vproc` command: parses arguments and turns one `Result` into an exit code.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::init_logging(
        args.log_level
            .as_deref()
            .unwrap_or(args.default_log_level()),
    );
    match args.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vproc: {e:#}");
            ExitCode::FAILURE
        }
    }
}
