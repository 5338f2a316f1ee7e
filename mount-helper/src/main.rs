//! `vproc-mount`: parses arguments and calls the library.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vproc_mount::{print, DEFAULT_SOURCE};

/// Put vproc's views into containers.
#[derive(Debug, Parser)]
#[command(name = "vproc-mount", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bind every view onto ROOTFS/proc/... and ROOTFS/sys/... (where the target exists).
    Rootfs {
        /// The container's root filesystem.
        rootfs: PathBuf,
        /// Where vproc serves the views.
        #[arg(long, default_value = DEFAULT_SOURCE)]
        source: PathBuf,
    },
    /// Bind the container's own views inside the mount namespace of a running process of it.
    /// Refuses this process's own mount namespace (the host's /proc would be covered) and one
    /// that has live views already, unless --force.
    Pid {
        /// A process of the container.
        pid: u32,
        /// Where vproc serves the views.
        #[arg(long, default_value = DEFAULT_SOURCE)]
        source: PathBuf,
        /// Bind even into this process's own namespace, or over live views (they are replaced,
        /// not stacked).
        #[arg(long)]
        force: bool,
    },
    /// Remove the views from a running container: `unmount pid PID`.
    Unmount {
        #[command(subcommand)]
        target: Target,
    },
    /// List which views a running container has and whether each is alive: `status pid PID`.
    Status {
        #[command(subcommand)]
        target: Target,
    },
    /// Repair every container whose views died with their daemon: `remount --all`. Goes on
    /// past a namespace that fails, prints a summary, and exits 1 if any failed.
    Remount {
        /// Every mount namespace on the host.
        #[arg(long, required = true)]
        all: bool,
        /// Where vproc serves the views now.
        #[arg(long, default_value = DEFAULT_SOURCE)]
        source: PathBuf,
        /// Only print what would be repaired.
        #[arg(long)]
        dry_run: bool,
        /// Only namespaces of processes whose cgroup path contains this text (e.g. a pod uid).
        #[arg(long)]
        cgroup: Option<String>,
    },
    /// OCI hook (createContainer stage): reads the OCI state on stdin and binds the views into
    /// the container's rootfs.
    OciHook {
        /// Where vproc serves the views.
        #[arg(long, default_value = DEFAULT_SOURCE)]
        source: PathBuf,
        /// Exit 0 (with a note on stderr) when the views cannot be put in, so the container
        /// starts without them instead of failing.
        #[arg(long)]
        optional: bool,
    },
    /// Print the mounts to paste into a runtime config.
    Print {
        /// docker, podman, oci or kubernetes.
        #[arg(long, value_enum)]
        format: print::Format,
        /// Where vproc serves the views.
        #[arg(long, default_value = DEFAULT_SOURCE)]
        source: PathBuf,
    },
    /// Print a seccomp profile that sends sysinfo(2) to `vproc sysinfo-agent`: PROFILE (a
    /// Docker or podman profile, or an OCI config's linux.seccomp) with that merged in.
    Seccomp {
        /// The profile to merge into (default: one that allows everything).
        #[arg(long)]
        merge: Option<PathBuf>,
        /// The agent's socket (the runtime's listenerPath).
        #[arg(long, default_value = vproc_mount::seccomp::DEFAULT_LISTENER)]
        listener: String,
    },
}

#[derive(Debug, Subcommand)]
enum Target {
    /// The container of a running process.
    Pid {
        /// A process of the container.
        pid: u32,
    },
}

/// An error and its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn oci_hook(source: &std::path::Path, optional: bool) -> ExitCode {
    use std::io::Read;
    let mut state = Vec::new();
    let result = std::io::stdin()
        .read_to_end(&mut state)
        .map_err(|e| vproc_mount::oci_hook::HookError::Input(format!("reading stdin: {e}")))
        .and_then(|_| vproc_mount::oci_hook::run(&state, source));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if optional => {
            eprintln!("vproc-mount: views not added (optional): {}", chain(&e));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vproc-mount: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Helper(#[from] vproc_mount::Error),
    #[error("{0}")]
    Refused(String),
}

fn run(args: Args) -> Result<(), Failure> {
    match args.command {
        Command::Rootfs { rootfs, source } => {
            let views = vproc_mount::open_views(&source)?;
            for t in vproc_mount::attach_views(&views, &rootfs)? {
                println!("{}", t.display());
            }
        }
        Command::Pid { pid, source, force } => {
            match vproc_mount::check_target(pid)? {
                Some(vproc_mount::Refusal::OwnNamespace) if !force => {
                    return Err(Failure::Refused(format!(
                        "pid {pid} is in this process's own mount namespace: binding there would cover this host's /proc files (use --force to do it anyway)"
                    )))
                }
                Some(vproc_mount::Refusal::AlreadyMounted) if !force => {
                    println!("pid {pid}: its container has live views already");
                    return Ok(());
                }
                Some(vproc_mount::Refusal::AlreadyMounted) => {
                    vproc_mount::unmount_in_pid(pid)?;
                }
                _ => {}
            }
            // Copies are taken here, in our own namespace, before joining the container's.
            let views = vproc_mount::open_views_of(&source, pid)?;
            let done = vproc_mount::with_mount_ns_of(pid, || {
                vproc_mount::attach_views(&views, std::path::Path::new("/"))
            })?;
            for t in done {
                println!("{}", t.display());
            }
        }
        Command::Unmount {
            target: Target::Pid { pid },
        } => {
            for t in vproc_mount::unmount_in_pid(pid)? {
                println!("{}", t.display());
            }
        }
        Command::Status {
            target: Target::Pid { pid },
        } => {
            for s in vproc_mount::status_in_pid(pid)? {
                println!("{s}");
            }
        }
        Command::Remount {
            all: _,
            source,
            dry_run,
            cgroup,
        } => {
            let opts = vproc_mount::RemountOptions {
                dry_run,
                cgroup_filter: cgroup,
            };
            let report = vproc_mount::remount_all(&source, &opts)?;
            let mut failed = 0;
            for r in &report {
                match &r.error {
                    None => {
                        for t in &r.targets {
                            let verb = if dry_run { "would repair" } else { "repaired" };
                            println!("{}\t{}\t{verb}", r.pid, t.display());
                        }
                    }
                    Some(e) => {
                        failed += 1;
                        eprintln!("vproc-mount: pid {}: {e}", r.pid);
                    }
                }
            }
            let ok = report.len() - failed;
            eprintln!(
                "{} namespace(s) {}, {failed} failed",
                ok,
                if dry_run { "to repair" } else { "repaired" }
            );
            if failed > 0 {
                return Err(Failure::Refused(format!(
                    "{failed} namespace(s) could not be repaired"
                )));
            }
        }
        Command::Print { format, source } => print!("{}", print::render(format, &source)),
        Command::Seccomp { merge, listener } => {
            let profile = match &merge {
                Some(path) => {
                    let text = std::fs::read(path).map_err(|e| {
                        Failure::Refused(format!("reading {}: {e}", path.display()))
                    })?;
                    Some(serde_json::from_slice(&text).map_err(|e| {
                        Failure::Refused(format!("{} is not JSON: {e}", path.display()))
                    })?)
                }
                None => None,
            };
            let merged = vproc_mount::seccomp::merge(profile.as_ref(), &listener)
                .map_err(|why| Failure::Refused(why.to_owned()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&merged).unwrap_or_default()
            );
        }
        // Handled in main: its failures have their own exit policy (--optional).
        Command::OciHook { .. } => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Command::OciHook { source, optional } = &args.command {
        return oci_hook(source, *optional);
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vproc-mount: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
