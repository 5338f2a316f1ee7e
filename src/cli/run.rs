//! `vproc run [OPTIONS] -- COMMAND [ARGS...]`: runs COMMAND in a new container with limits and
//! vproc's views; exits with its status.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vproc::runtime::{units, Limits, MemorySwap, RunConfig, Views, Volume};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Memory limit (docker units: 256m, 1g).
    #[arg(short = 'm', long, value_parser = units::parse_size)]
    memory: Option<u64>,
    /// Memory plus swap limit (docker semantics); -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CPUs (0.5 = half a CPU), as a CFS quota.
    #[arg(long)]
    cpus: Option<String>,
    /// CFS period in microseconds.
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CFS quota in microseconds per period.
    #[arg(long)]
    cpu_quota: Option<u64>,
    /// CPUs the container may run on (0-1, 0,2).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Most processes and threads in the container.
    #[arg(long)]
    pids_limit: Option<u64>,
    /// Block I/O weight (10-1000), where the host has it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(10..=1000))]
    blkio_weight: Option<u16>,
    /// Parent of the container's cgroup: absolute from each hierarchy's root, or relative to
    /// vproc's own cgroup ("." for the own cgroup).
    #[arg(long, default_value = "/vproc")]
    cgroup_parent: String,
    /// Container name (its cgroup's name) [default: vproc-<pid>].
    #[arg(long)]
    name: Option<String>,
    /// Hostname in the container [default: the name].
    #[arg(long)]
    hostname: Option<String>,
    /// Network: none (a new namespace with loopback up) or host.
    #[arg(long, default_value = "none", value_parser = ["none", "host"])]
    net: String,
    /// Root filesystem directory [default: the host's /].
    #[arg(long)]
    rootfs: Option<PathBuf>,
    /// Put a throwaway writable layer over --rootfs, leaving the directory unmodified.
    #[arg(long, requires = "rootfs")]
    overlay: bool,
    /// Bind mount HOST:CONTAINER[:ro].
    #[arg(short = 'v', long = "volume")]
    volumes: Vec<String>,
    /// Environment variable K=V (or K, to pass this process's value).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory in the container.
    #[arg(short = 'w', long)]
    workdir: Option<PathBuf>,
    /// UID[:GID] to run the command as.
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Use the views of a running `vproc serve` at DIR.
    #[arg(long, conflicts_with = "no_views")]
    views: Option<PathBuf>,
    /// Run without views (the container reads the kernel's files).
    #[arg(long)]
    no_views: bool,
    /// Write the container init's host pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn parse_volume(s: &str) -> Result<Volume, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, container, ro) = match parts.as_slice() {
        [h, c] => (h, c, false),
        [h, c, "ro"] => (h, c, true),
        [h, c, "rw"] => (h, c, false),
        _ => return Err(format!("bad volume `{s}`: use HOST:CONTAINER[:ro]")),
    };
    if !container.starts_with('/') {
        return Err(format!(
            "bad volume `{s}`: the container path must be absolute"
        ));
    }
    let host = PathBuf::from(host);
    if !host.exists() {
        return Err(format!("volume source {} does not exist", host.display()));
    }
    Ok(Volume {
        host,
        container: PathBuf::from(container),
        read_only: ro,
    })
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let bad = || format!("bad user `{s}`: use UID[:GID] (numbers)");
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

pub fn run(a: RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let period = a.cpu_period;
    let cpu_quota_us = match (&a.cpus, a.cpu_quota) {
        (Some(c), _) => Some(units::cpus_to_quota(c, period.unwrap_or(100_000))?),
        (None, q) => q,
    };
    let memory_swap = match a.memory_swap.as_deref() {
        None => None,
        Some("-1") => Some(MemorySwap::Unlimited),
        Some(s) => Some(MemorySwap::Total(units::parse_size(s)?)),
    };
    if let (Some(MemorySwap::Total(t)), Some(m)) = (memory_swap, a.memory) {
        if t < m {
            return Err(
                "--memory-swap must be at least --memory (it counts memory plus swap)".into(),
            );
        }
    }
    let cfg = RunConfig {
        command: a.command,
        limits: Limits {
            memory: a.memory,
            memory_swap,
            cpu_quota_us,
            cpu_period_us: period,
            cpuset_cpus: a.cpuset_cpus,
            pids: a.pids_limit,
            blkio_weight: a.blkio_weight,
        },
        cgroup_parent: a.cgroup_parent,
        name: a
            .name
            .unwrap_or_else(|| format!("vproc-{}", std::process::id())),
        hostname: a.hostname,
        net_host: a.net == "host",
        rootfs: a.rootfs,
        overlay: a.overlay,
        volumes: a
            .volumes
            .iter()
            .map(|v| parse_volume(v))
            .collect::<Result<_, _>>()?,
        env: a.env,
        workdir: a.workdir,
        user: a.user.as_deref().map(parse_user).transpose()?,
        views: match (a.no_views, a.views) {
            (true, _) => Views::None,
            (false, Some(d)) => Views::Dir(d),
            (false, None) => Views::Auto,
        },
        pid_file: a.pid_file,
    };
    let code = vproc::runtime::run(&cfg)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}
