//! `vproc ps` lists the running containers; `vproc gc` removes what dead ones left behind.

use std::process::ExitCode;
use vproc::runtime::state;

fn age(created: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = now.saturating_sub(created);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

pub fn ps() -> Result<ExitCode, Box<dyn std::error::Error>> {
    println!(
        "{:<20} {:>8} {:>6} {:>10} {:>6}  COMMAND",
        "NAME", "PID", "AGE", "MEMORY", "CPUS"
    );
    for r in state::list().into_iter().filter(|r| r.is_alive()) {
        let mem = r.memory.map_or("-".to_owned(), |m| format!("{}M", m >> 20));
        let cpus = r.cpus.map_or("-".to_owned(), |(q, p)| {
            format!("{:.2}", q as f64 / p.max(1) as f64)
        });
        // No pid until the container is set up: `vproc exec` waits until then.
        let pid = r
            .init_pid
            .filter(|_| r.ready)
            .map_or("-".to_owned(), |p| p.to_string());
        println!(
            "{:<20} {:>8} {:>6} {:>10} {:>6}  {}",
            r.name,
            pid,
            age(r.created),
            mem,
            cpus,
            r.command
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc() -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !nix::unistd::geteuid().is_root() {
        return Err("vproc gc needs root (it removes cgroups)".into());
    }
    for r in state::gc() {
        println!("{}: removed {} cgroup(s)", r.name, r.cgroups.len());
    }
    Ok(ExitCode::SUCCESS)
}
