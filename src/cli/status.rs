//! `vproc status`: what a running `vproc serve` is doing, asked over its control socket.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vproc::fs::report::{since, Report};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The daemon's mountpoint.
    #[arg(default_value = "/var/lib/vproc")]
    mountpoint: PathBuf,
    /// Print the report as JSON (the same as `GET /status` on the socket).
    #[arg(long, conflicts_with = "metrics")]
    json: bool,
    /// Print the Prometheus metrics instead.
    #[arg(long)]
    metrics: bool,
}

fn mib(b: Option<u64>) -> String {
    b.map_or("-".to_owned(), |b| format!("{}M", b >> 20))
}

fn duration(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

pub fn run(a: StatusArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let path = if a.metrics { "/metrics" } else { "/status" };
    let body = vproc::fs::control::get(&a.mountpoint, path)?;
    if a.metrics || a.json {
        print!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let r: Report = serde_json::from_str(&body)?;
    let d = &r.daemon;
    println!(
        "vproc {} serving {} (supervisor {}, worker {})",
        d.version, d.mountpoint, d.supervisor_pid, d.worker_pid
    );
    println!(
        "up {}, worker generation {} up {}, {} crash(es), {} upgrade(s), {} restart(s)",
        duration(since(d.started)),
        d.generation,
        duration(since(d.worker_started)),
        d.crashes,
        d.upgrades,
        d.restarts
    );
    let c = &r.counters;
    let unresolved: Vec<String> = c
        .unresolved
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "opens {}, foreign opens {}, host fallbacks {}, unresolved readers: {}",
        c.opens,
        c.foreign_opens,
        c.host_fallbacks,
        unresolved.join(", ")
    );
    println!();
    println!(
        "{:<34} {:>10} {:>10} {:>8} {:>8}",
        "VIEW", "READS", "RENDERS", "P50 µs", "P99 µs"
    );
    let bound = |b: Option<u64>| match b {
        None => "-".to_owned(),
        Some(u64::MAX) => ">100000".to_owned(),
        Some(b) => format!("≤{b}"),
    };
    for v in r.views.iter().filter(|v| v.reads + v.renders > 0) {
        println!(
            "{:<34} {:>10} {:>10} {:>8} {:>8}",
            v.view,
            v.reads,
            v.renders,
            bound(v.render_p50_us),
            bound(v.render_p99_us)
        );
    }
    println!();
    // A container known by its init shows that init's pid; one known by its cgroup, none.
    println!(
        "{:<8} {:<48} {:>8} {:>6} {:>6} {:>9} {:>6}",
        "INIT", "CGROUP", "MEMORY", "CPUS", "PIDS", "RENDERS", "LAST"
    );
    for c in &r.containers {
        println!(
            "{:<8} {:<48} {:>8} {:>6} {:>6} {:>9} {:>6}",
            c.id.strip_prefix("init ").unwrap_or("-"),
            c.cgroup.as_deref().unwrap_or("(gone)"),
            mib(c.memory_limit_bytes),
            c.cpu_limit.map_or("-".to_owned(), |c| format!("{c:.2}")),
            c.pids_limit.map_or("-".to_owned(), |p| p.to_string()),
            c.renders,
            duration(c.last_render_s as u64)
        );
    }
    Ok(ExitCode::SUCCESS)
}
