//! `vproc run [OPTIONS] -- COMMAND [ARGS...]`: runs COMMAND in a new container with limits and
//! vproc's views; exits with its status.

use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vproc::fs::embedded::EmbeddedServer;
use vproc::runtime::{units, Limits, MemorySwap, RunConfig, ViewSource, Views, Volume};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Memory limit (docker units: 256m, 1g).
    #[arg(short = 'm', long, allow_hyphen_values = true, value_parser = units::parse_size)]
    memory: Option<u64>,
    /// Memory plus swap limit (docker semantics); -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CPUs (0.5 = half a CPU), as a CFS quota; at most the CPUs this host has.
    #[arg(long, allow_hyphen_values = true)]
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
    /// vproc's own cgroup ("." for the own cgroup, "./a/b" below it).
    #[arg(long, default_value = vproc::runtime::DEFAULT_CGROUP_PARENT)]
    cgroup_parent: String,
    /// Container name (its cgroup's name; `vproc exec NAME` finds it) [default: vproc-<pid>].
    #[arg(long, value_parser = parse_name)]
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
    /// Let sysinfo(2) return the host's figures (by default a seccomp filter sends the
    /// command's calls to vproc, which answers with the container's, as `free` in busybox
    /// needs).
    #[arg(long)]
    no_sysinfo: bool,
    /// Keep the host's clock: no time namespace (by default the command's boot clock starts
    /// with the container, so `ps` elapsed times and `uptime` agree with the views).
    #[arg(long)]
    no_time_ns: bool,
    /// When `vproc run` serves the views itself: how long values are reused, in milliseconds
    /// (as `vproc serve --cache-ms`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    cache_ms: u64,
    /// Write the container init's host pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// A name that is one path component of a cgroup and of /run/vproc.
fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "bad name `{s}`: use up to 64 letters, digits, `-`, `_` and `.`, not starting with `.`"
        ))
    }
}

/// CPUs this process may run on (what Docker counts for `--cpus`).
fn host_cpus() -> usize {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| {
            (0..nix::sched::CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count()
        })
        .unwrap_or(1)
        .max(1)
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
        (Some(c), _) => Some(units::cpus_to_quota(
            c,
            period.unwrap_or(100_000),
            host_cpus(),
        )?),
        (None, q) => q,
    };
    if let Some(cpus) = &a.cpuset_cpus {
        check_cpuset(cpus)?;
    }
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
        views: Views::None,
        time_ns: !a.no_time_ns,
        sysinfo: !a.no_sysinfo,
        pid_file: a.pid_file,
    };
    // The views: a running daemon's (--views, or at the default mountpoint), or a server of
    // this run's own, which ends with it.
    let mut server = None;
    let mut cfg = cfg;
    cfg.views = match (a.no_views, a.views) {
        (true, _) => Views::None,
        (false, Some(dir)) => Views::Source(ViewSource {
            dir,
            mount_ns_of: None,
        }),
        (false, None) => {
            let default = Path::new(vproc_mount::DEFAULT_SOURCE);
            if vproc::fs::serves_views(default) {
                Views::Source(ViewSource {
                    dir: default.to_owned(),
                    mount_ns_of: None,
                })
            } else {
                let s = EmbeddedServer::start(std::time::Duration::from_millis(a.cache_ms))?;
                let v = Views::Source(ViewSource {
                    dir: s.dir().to_owned(),
                    mount_ns_of: Some(s.pid()),
                });
                server = Some(s);
                v
            }
        }
    };
    let serve_sysinfo = |listener: std::os::fd::OwnedFd, init: u32| {
        if let Err(e) = vproc::sysinfo::spawn_for_init(listener, init) {
            tracing::warn!(error = %e, "sysinfo(2) is not answered: no thread");
        }
    };
    let result = vproc::runtime::run(&cfg, Some(&serve_sysinfo));
    if let Some(s) = server {
        s.stop();
    }
    let code = result?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}

/// `--cpuset-cpus` in the kernel's list format, naming only CPUs this host has online.
fn check_cpuset(cpus: &str) -> Result<(), String> {
    let want = vproc::kernel::CpuSet::parse(cpus.as_bytes()).map_err(|_| {
        format!("bad --cpuset-cpus `{cpus}`: use the kernel's list format, such as 0 or 0-1,3")
    })?;
    let online = std::fs::read("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|t| vproc::kernel::CpuSet::parse(&t).ok());
    if let Some(online) = online {
        if want.is_empty() || want.intersection(&online).len() != want.len() {
            return Err(format!(
                "bad --cpuset-cpus `{cpus}`: this host's CPUs are {}",
                online.to_list()
            ));
        }
    }
    Ok(())
}
