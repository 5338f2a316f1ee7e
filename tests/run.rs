//! `vproc run`, `vproc exec` and `vproc-mount` end to end: real containers on this machine's
//! cgroups, real tools inside (free, top, getconf, Python, Java), exit codes, signals, limits
//! enforced, and nothing left behind.

mod common;

use common::{wait_for, Daemon};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static SEQ: AtomicU32 = AtomicU32::new(0);

fn name(tag: &str) -> String {
    format!(
        "vproc-test-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// `vproc run` with the test's cgroup placement, then `args`.
fn vproc_run(args: &[&str]) -> Command {
    vproc_run_named(&name("run"), args)
}

fn vproc_run_named(name: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vproc"));
    c.args(["run", "--cgroup-parent", ".", "--name", name])
        .args(args);
    c
}

/// A `vproc run` in the background; on drop (a failing test too) it gets SIGTERM, which it
/// forwards, so it tears its container down itself.
struct Running(std::process::Child);

impl Running {
    fn term(&mut self) -> Option<i32> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.0.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.term();
        }
    }
}

fn output(args: &[&str]) -> Output {
    vproc_run(args).output().unwrap()
}

fn stdout(args: &[&str]) -> String {
    let out = output(args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn host_mem_total_bytes() -> u64 {
    let m = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = m
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb * 1024
}

fn free_total(out: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with("Mem:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn free_top_and_uptime_see_the_limits() {
    require_real_cgroups!();
    assert_eq!(
        free_total(&stdout(&["--memory", "256m", "--", "free", "-b"])),
        268435456
    );
    let top = stdout(&["--memory", "256m", "--", "top", "-bn1"]);
    let mem = top.lines().find(|l| l.contains("Mem :")).unwrap();
    assert!(mem.contains("256.0 total"), "{mem}");
    let up = common::first_number(&stdout(&["--", "cat", "/proc/uptime"]));
    assert!(up < 2.0, "{up}");
}

#[test]
fn cpu_counts_follow_cpus_and_cpuset() {
    require_real_cgroups!();
    assert_eq!(
        stdout(&["--cpus", "1", "--", "getconf", "_NPROCESSORS_ONLN"]).trim(),
        "1"
    );
    assert_eq!(
        stdout(&[
            "--cpus",
            "1",
            "--",
            "python3",
            "-c",
            "import os; print(os.cpu_count())"
        ])
        .trim(),
        "1"
    );
    let ncpu = std::thread::available_parallelism().unwrap().get();
    if ncpu >= 2 {
        assert_eq!(
            stdout(&["--cpuset-cpus", "0-1", "--", "getconf", "_NPROCESSORS_ONLN"]).trim(),
            "2"
        );
        assert_eq!(
            stdout(&[
                "--cpuset-cpus",
                "0-1",
                "--",
                "python3",
                "-c",
                "import os; print(os.cpu_count())"
            ])
            .trim(),
            "2"
        );
    }
    assert_eq!(
        stdout(&[
            "--cpuset-cpus",
            "0",
            "--",
            "cat",
            "/sys/devices/system/cpu/online"
        ])
        .trim(),
        "0"
    );
}

/// Node (libuv): `os.totalmem()` and `os.freemem()` from /proc/meminfo, `os.cpus()` from
/// /proc/stat and /proc/cpuinfo, `os.uptime()` from /proc/uptime.
#[test]
fn node_sees_the_limits() {
    require_real_cgroups!();
    if Command::new("node").arg("-v").output().is_err() {
        common::skip("node is not installed (apt-get install nodejs)");
        return;
    }
    let out = stdout(&[
        "--memory",
        "256m",
        "--cpus",
        "1",
        "--",
        "node",
        "-e",
        "const os = require('os'); \
         console.log(os.totalmem(), os.freemem() <= os.totalmem(), os.cpus().length, os.uptime() < 30)",
    ]);
    assert_eq!(out.trim(), "268435456 true 1 true");
}

/// The JVM sizes its heap from the limit. It reads the cgroup's limit and compares it with
/// the physical memory that `sysinfo` reports: answered by vproc, that is the limit itself, so
/// it prints "Memory Limit: Unlimited" and sizes from a 256 MiB machine, which is the same
/// heap; with `--no-sysinfo` it prints the limit.
#[test]
fn java_sees_the_limits() {
    require_real_cgroups!();
    if Command::new("java").arg("-version").output().is_err() {
        common::skip("java is not installed");
        return;
    }
    let java = |extra: &[&str]| -> String {
        let script = "java -XX:+PrintFlagsFinal -version 2>/dev/null | awk '$2 == \"MaxHeapSize\" {print \"heap\", $4}'; \
             java -XshowSettings:system -version 2>&1";
        let mut args = extra.to_vec();
        args.extend(["--memory", "256m", "--cpus", "1", "--", "sh", "-c", script]);
        let out = output(&args);
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Effective CPU Count: 1"), "{text}");
        // At most half of 256 MiB (the host's 24 GiB would give gigabytes).
        let heap: u64 = common::line(&text, "heap ")[5..].trim().parse().unwrap();
        assert!(heap > 0 && heap <= 128 << 20, "{text}");
        text
    };
    let answered = java(&[]);
    assert!(answered.contains("Memory Limit: Unlimited"), "{answered}");
    let kernel = java(&["--no-sysinfo"]);
    assert!(kernel.contains("Memory Limit: 256.00M"), "{kernel}");
}

#[test]
fn without_views_the_host_shows() {
    require_real_cgroups!();
    let total = free_total(&stdout(&[
        "--no-views",
        "--memory",
        "256m",
        "--",
        "free",
        "-b",
    ]));
    assert_eq!(total, host_mem_total_bytes());
}

#[test]
fn exit_statuses_are_the_commands() {
    require_real_cgroups!();
    assert_eq!(output(&["--", "sh", "-c", "exit 3"]).status.code(), Some(3));
    assert_eq!(
        output(&["--", "sh", "-c", "kill -9 $$"]).status.code(),
        Some(137)
    );
    let nf = output(&["--", "no-such-command-vproc"]);
    assert_eq!(nf.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&nf.stderr).contains("command not found"));
}

#[test]
fn signals_reach_the_command() {
    require_real_cgroups!();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = "trap 'exit 42' TERM; while :; do sleep 0.05; done";
    let args = [
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ];
    let mut child = Running(vproc_run(&args).spawn().unwrap());
    wait_for("the container", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|s| !s.is_empty())
    });
    // Let the shell install its trap.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(child.term(), Some(42));
}

#[test]
fn zombies_are_reaped() {
    require_real_cgroups!();
    // An orphan becomes pid 1's child; when it exits, pid 1 must reap it.
    let out = stdout(&[
        "--",
        "sh",
        "-c",
        "(sleep 0.2 &) ; sleep 0.6; ps -eo stat= | grep -c Z || true",
    ]);
    assert_eq!(out.trim(), "0");
}

#[test]
fn limits_are_enforced() {
    require_real_cgroups!();
    // A fork bomb stops at the limit: forks beyond it fail with EAGAIN.
    let bomb = r#"
import os, time
started = failed = 0
for i in range(60):
    try:
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        started += 1
    except OSError:
        failed += 1
current = "/sys/fs/cgroup/pids/pids.current"  # v1; v2: the container's own cgroup mount
print(started, failed, open(current if os.path.exists(current) else "/sys/fs/cgroup/pids.current").read().strip())
"#;
    let out = stdout(&["--pids-limit", "20", "--", "python3", "-c", bomb]);
    let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(
        v[0] < 20 && v[1] > 40 && v[2] <= 20,
        "started, failed, pids.current: {out}"
    );
    let oom = output(&[
        "--memory",
        "64m",
        "--",
        "python3",
        "-c",
        "b = bytearray(512 * 1024 * 1024); print(len(b))",
    ]);
    assert_eq!(
        oom.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&oom.stderr)
    );
    assert!(
        String::from_utf8_lossy(&oom.stderr).contains("OOM killer"),
        "{}",
        String::from_utf8_lossy(&oom.stderr)
    );
}

#[test]
fn bad_input_is_named_and_leaves_nothing() {
    require_real_cgroups!();
    let prefix = format!("vproc-test-bad-{}-", std::process::id());
    let err = |args: &[&str]| {
        let o = vproc_run_named(&name("bad"), args).output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(err(&["--memory", "12x", "--", "true"]).contains("bad size"));
    assert!(err(&["--cpus", "abc", "--", "true"]).contains("bad CPU count"));
    assert!(err(&["--rootfs", "/no/such/rootfs", "--", "true"]).contains("does not exist"));
    assert!(
        err(&["--memory-swap", "1m", "--memory", "2m", "--", "true"]).contains("at least --memory")
    );
    assert!(err(&["--blkio-weight", "5", "--", "true"]).contains("5"));
    // --blkio-weight where the host has a weight file (here: bfq's), else a named error.
    // (v2: io.weight, "default 300", in the container's own cgroup mount.)
    let w = output(&["--blkio-weight", "300", "--", "sh", "-c", "cat /sys/fs/cgroup/blkio/blkio.bfq.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || cat /sys/fs/cgroup/io.weight"]);
    if w.status.success() {
        assert!(
            String::from_utf8_lossy(&w.stdout).contains("300"),
            "{}",
            String::from_utf8_lossy(&w.stdout)
        );
    } else {
        assert!(String::from_utf8_lossy(&w.stderr).contains("blkio weight"));
    }
    assert_no_leftovers(&prefix);
}

/// No cgroup, mount or scratch directory whose name starts with `prefix` is left.
fn assert_no_leftovers(prefix: &str) {
    let mine = prefix;
    for c in common::V1_CONTROLLERS {
        let out = Command::new("find")
            .args([
                format!("/sys/fs/cgroup/{c}"),
                "-maxdepth".into(),
                "4".into(),
                "-name".into(),
                format!("{mine}*"),
            ])
            .output()
            .unwrap();
        assert!(
            out.stdout.is_empty(),
            "left behind: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(mine), "mount left behind");
    if let Ok(rd) = std::fs::read_dir("/run/vproc") {
        for e in rd.flatten() {
            assert!(
                !e.file_name().to_string_lossy().starts_with(mine),
                "scratch dir left: {:?}",
                e.path()
            );
        }
    }
}

#[test]
fn fifty_runs_leave_nothing_behind() {
    require_real_cgroups!();
    let prefix = format!("vproc-test-fifty-{}-", std::process::id());
    for i in 0..50 {
        let args: &[&str] = if i % 2 == 0 {
            &["--memory", "128m", "--", "true"]
        } else {
            &["--no-views", "--", "false"]
        };
        let o = vproc_run_named(&format!("{prefix}{i}"), args)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(if i % 2 == 0 { 0 } else { 1 }),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // An error path too: a command that is not there.
    let o = vproc_run_named(&format!("{prefix}nf"), &["--", "no-such-command-vproc"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    assert_no_leftovers(&prefix);
}

#[test]
fn rootfs_overlay_volumes_env_workdir_user() {
    require_real_cgroups!();
    let Ok(busybox) = which("busybox") else {
        common::skip("busybox is not installed (apt-get install busybox-static)");
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-rootfs")
        .tempdir()
        .unwrap();
    let root = dir.path().join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "data"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    for tool in [
        "sh", "cat", "head", "echo", "id", "pwd", "free", "ls", "touch",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    let vol = dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("hello"), "from the host\n").unwrap();
    let r = root.to_str().unwrap();
    let v = format!("{}:/data:ro", vol.display());
    let out = stdout(&[
        "--rootfs", r, "--overlay", "--memory", "200m", "-v", &v, "-e", "GREETING=hi", "-w", "/tmp", "--user", "1000:1000", "--hostname", "box",
        "--", "sh", "-c",
        "echo $GREETING; pwd; id -u; id -g; cat /data/hello; head -1 /proc/meminfo; touch /tmp/x /data/y 2>/dev/null || echo ro; cat /proc/sys/kernel/hostname",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..5],
        ["hi", "/tmp", "1000", "1000", "from the host"],
        "{out}"
    );
    assert_eq!(lines[5], "MemTotal:         204800 kB");
    assert_eq!(lines[6], "ro");
    assert_eq!(lines[7], "box");
    assert!(
        !root.join("tmp/x").exists(),
        "the overlay must not modify the image"
    );
    // Without --overlay the rootfs itself is the root.
    let out = stdout(&["--rootfs", r, "--", "sh", "-c", "ls /bin/busybox"]);
    assert_eq!(out.trim(), "/bin/busybox");
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn mount_helper_fixes_a_container_started_without_views() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let args = [
        "--no-views",
        "--memory",
        "256m",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--",
        "sleep",
        "30",
    ];
    let mut child = Running(vproc_run(&args).stdout(Stdio::null()).spawn().unwrap());
    let pid: u32 = wait_for("the container", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    });
    let exec = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_vproc"))
            .arg("exec")
            .arg(pid.to_string())
            .arg("--")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // Give the init a moment to finish its mounts before joining.
    wait_for("the container's root", || {
        exec(&["cat", "/proc/sys/kernel/hostname"])
            .contains("vproc-test")
            .then_some(())
    });
    assert_eq!(free_total(&exec(&["free", "-b"])), host_mem_total_bytes());
    // Built next to vproc by `cargo test --workspace` (mount-helper/tests/cli.rs needs it).
    let helper = Path::new(env!("CARGO_BIN_EXE_vproc")).with_file_name("vproc-mount");
    assert!(
        helper.exists(),
        "build the workspace first: cargo test --workspace"
    );
    let o = Command::new(&helper)
        .args(["pid", &pid.to_string(), "--source"])
        .arg(&d.mnt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(free_total(&exec(&["free", "-b"])), 268435456);
    let st = Command::new(&helper)
        .args(["status", "pid", &pid.to_string()])
        .output()
        .unwrap();
    let st = String::from_utf8(st.stdout).unwrap();
    assert!(st.contains("/proc/meminfo\talive\tfuse.vproc"), "{st}");
    let un = Command::new(&helper)
        .args(["unmount", "pid", &pid.to_string()])
        .output()
        .unwrap();
    assert!(un.status.success());
    assert_eq!(free_total(&exec(&["free", "-b"])), host_mem_total_bytes());
    // SIGTERM reaches `sleep` (killed: 143), and vproc run cleans up.
    assert_eq!(child.term(), Some(143));
}

#[test]
fn network_sys_and_a_running_daemons_views() {
    require_real_cgroups!();
    // --net none: a new namespace with only loopback, and it is up.
    let net = stdout(&[
        "--",
        "sh",
        "-c",
        "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags",
    ]);
    let lines: Vec<&str> = net.lines().collect();
    assert_eq!(lines[0], "lo", "{net}");
    let flags = u32::from_str_radix(lines[2].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP: {net}");
    // --net host: the host's interfaces.
    let host_ifs = std::fs::read_dir("/sys/class/net").unwrap().count();
    let seen = stdout(&[
        "--net",
        "host",
        "--",
        "sh",
        "-c",
        "ls /sys/class/net | wc -l",
    ]);
    assert_eq!(seen.trim().parse::<usize>().unwrap(), host_ifs);
    // /sys is read-only.
    let ro = output(&[
        "--",
        "sh",
        "-c",
        "echo 1 > /sys/kernel/mm/transparent_hugepage/enabled",
    ]);
    assert!(!ro.status.success());
    assert!(
        String::from_utf8_lossy(&ro.stderr).contains("Read-only file system"),
        "{}",
        String::from_utf8_lossy(&ro.stderr)
    );
    // --views DIR: a running vproc serve's views.
    let d = Daemon::start(&[]);
    let mnt = d.mnt.to_str().unwrap();
    let m = stdout(&[
        "--views",
        mnt,
        "--memory",
        "192m",
        "--",
        "head",
        "-1",
        "/proc/meminfo",
    ]);
    assert_eq!(m, "MemTotal:         196608 kB\n");
    let gone = output(&["--views", "/nonexistent/views", "--", "true"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    common::children(pid)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
}

fn vproc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vproc"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_fresh_multi_level_parent_is_usable_and_removed() {
    require_real_cgroups!();
    let top = format!("vproc-test-levels-{}", std::process::id());
    let parent = format!("./{top}/b/c");
    let out = Command::new(env!("CARGO_BIN_EXE_vproc"))
        .args(["run", "--cgroup-parent", &parent, "--name", &name("lvl")])
        .args(["--memory", "128m", "--cpuset-cpus", "0", "--", "sh", "-c"])
        .arg("cat /proc/self/cgroup; head -1 /proc/meminfo; cat /sys/devices/system/cpu/online")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("MemTotal:         131072 kB"), "{text}");
    assert_eq!(text.lines().last(), Some("0"), "{text}");
    // Every level it created is gone again, in every hierarchy (cpuset included, whose new
    // levels needed CPUs and memory nodes before any task could join).
    assert_no_leftovers(&top);
}

#[test]
fn named_containers_are_listed_and_exec_by_name() {
    require_real_cgroups!();
    let n = name("named");
    let mut c = Running(
        vproc_run_named(&n, &["--memory", "192m", "--", "sleep", "60"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the container in vproc ps", || {
        let ps = String::from_utf8_lossy(&vproc(&["ps"]).stdout).into_owned();
        ps.lines()
            .any(|l| l.starts_with(&n) && l.split_whitespace().nth(1).is_none_or(|p| p != "-"))
            .then_some(())
    });
    let ps = String::from_utf8_lossy(&vproc(&["ps"]).stdout).into_owned();
    let row = ps.lines().find(|l| l.starts_with(&n)).unwrap();
    assert!(row.contains("192M") && row.contains("sleep 60"), "{ps}");
    // exec by name: the container's hostname (its name), and its limit through the views.
    let o = vproc(&[
        "exec",
        &n,
        "--",
        "sh",
        "-c",
        "hostname; head -1 /proc/meminfo",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().next(), Some(n.as_str()), "{text}");
    assert!(text.contains("MemTotal:         196608 kB"), "{text}");
    let o = vproc(&["exec", "vproc-test-no-such-container", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no running container is named"));
    // A second container may not take a running one's name.
    let o = vproc_run_named(&n, &["--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is running"));
    assert_eq!(c.term(), Some(143));
    assert!(!String::from_utf8_lossy(&vproc(&["ps"]).stdout).contains(&n));
}

/// Processes that enter a running container from outside (`vproc exec`, `nsenter`) see the
/// container's age and limits, and the container's own command (pid 2, under vproc's pid 1),
/// reading after them, still sees the container's age.
#[test]
fn entering_readers_see_the_containers_age_and_leave_pid_1_alone() {
    require_real_cgroups!();
    let n = name("enter");
    // Before the container exists: no reader can see it older than this.
    let started = std::time::Instant::now();
    let mut c = Running(
        vproc_run_named(
            &n,
            &[
                "--memory",
                "192m",
                "--",
                "sh",
                "-c",
                "sleep 3; cat /proc/uptime; sleep 60",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let init: u32 = wait_for("the container's pid", || {
        let ps = String::from_utf8_lossy(&vproc(&["ps"]).stdout).into_owned();
        ps.lines()
            .find(|l| l.starts_with(&n))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let exec = vproc(&[
        "exec",
        &n,
        "--",
        "sh",
        "-c",
        "cat /proc/uptime; head -1 /proc/meminfo",
    ]);
    let pid = init.to_string();
    let nsenter = Command::new("nsenter")
        .args(["-t", &pid, "-p", "-m", "-C", "--", "sh", "-c"])
        .arg("cat /proc/uptime; head -1 /proc/meminfo")
        .output()
        .unwrap();
    let upper = started.elapsed().as_secs_f64() + 1.0;
    for (how, o) in [("vproc exec", exec), ("nsenter", nsenter)] {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{how}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let age = common::first_number(&text);
        assert!((1.0..=upper).contains(&age), "{how} saw uptime {age}");
        assert!(
            text.contains("MemTotal:         196608 kB"),
            "{how}: {text}"
        );
    }
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(c.0.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    let age = common::first_number(&first);
    assert!(age >= 2.9, "the container's command saw uptime {age}");
    c.term();
}

/// What glibc, Python and lscpu count as the machine's CPUs, and the host-wide counters of
/// /proc/stat and /proc/vmstat, inside a container of half a CPU (of one) with 256 MiB.
#[test]
fn cpu_counts_and_stat_counters_are_the_containers() {
    require_real_cgroups!();
    let script = "getconf _NPROCESSORS_CONF; \
        python3 -c 'import os; print(os.sysconf(\"SC_NPROCESSORS_CONF\"), os.cpu_count())'; \
        lscpu | grep '^CPU(s):'; cat /proc/uptime; date +%s; cat /proc/stat; \
        grep -E '^(pgfault|nr_free_pages) ' /proc/vmstat";
    let o = vproc_run(&[
        "--cpus",
        "0.5",
        "--cpuset-cpus",
        "0",
        "--memory",
        "256m",
        "--",
        "sh",
        "-c",
        script,
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let host_stat = std::fs::read_to_string("/proc/stat").unwrap();
    let host_vmstat = std::fs::read_to_string("/proc/vmstat").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1", "getconf _NPROCESSORS_CONF: {text}");
    assert_eq!(lines[1], "1 1", "Python: {text}");
    assert_eq!(
        lines[2].split_whitespace().last(),
        Some("1"),
        "lscpu: {text}"
    );
    let uptime = common::first_number(lines[3]);
    let now: f64 = lines[4].parse().unwrap();
    let field = |text: &str, key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    };
    // Booted when the container started: btime + uptime is now.
    let btime = field(&text, "btime") as f64;
    assert!(
        (btime + uptime - now).abs() <= 2.0,
        "btime {btime} uptime {uptime} now {now}"
    );
    // Its pid namespace's forks, not the host's.
    assert!(field(&text, "processes") < 100, "{text}");
    // Interrupts and context switches: at most the host's times its share of the CPUs
    // (half a CPU of the host's).
    let host_cpus = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|s| {
            vproc::cgroup::CpuSet::parse(s.trim().as_bytes())
                .unwrap()
                .len()
        })
        .unwrap() as u64;
    for key in ["intr", "ctxt"] {
        let (c, h) = (field(&text, key), field(&host_stat, key));
        assert!(c <= h / (2 * host_cpus) + 1, "{key}: {c} of the host's {h}");
    }
    // Its own page faults and free memory.
    assert!(field(&text, "pgfault") < field(&host_vmstat, "pgfault"));
    assert!(field(&text, "nr_free_pages") <= (256 << 20) / 4096);
}

/// The CPU directory lists the container's CPUs only, by their host ids, and passes every
/// other entry through from the host, read-only: `ls`, Python, `lscpu` and a read of a CPU's
/// topology, in a container on CPU 1 of a host with at least two.
#[test]
fn the_cpu_directory_lists_only_the_containers_cpus() {
    require_real_cgroups!();
    let sys = Path::new("/sys/devices/system/cpu");
    let host_names: Vec<String> = std::fs::read_dir(sys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let is_cpu = |n: &str| {
        n.strip_prefix("cpu")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    require!(
        host_names.iter().any(|n| n == "cpu1"),
        "a host with a CPU 1"
    );
    let script = "ls /sys/devices/system/cpu | tr '\\n' ' '; echo; \
        python3 -c 'import os, re; print(sorted(d for d in os.listdir(\"/sys/devices/system/cpu\") if re.fullmatch(\"cpu[0-9]+\", d)))'; \
        lscpu -p=CPU | grep -v '^#' | tr '\\n' ' '; echo; \
        cat /sys/devices/system/cpu/cpu1/topology/core_id; \
        readlink /sys/devices/system/cpu/cpu1/subsystem; \
        cat /sys/devices/system/cpu/cpu0/topology/core_id 2>/dev/null || echo no-cpu0; \
        (echo 0 > /sys/devices/system/cpu/cpu1/online) 2>/dev/null && echo written || echo read-only; \
        cat /sys/devices/system/cpu/online";
    let o = vproc_run(&["--cpuset-cpus", "1", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut want: Vec<&str> = host_names
        .iter()
        .map(String::as_str)
        .filter(|n| !is_cpu(n) || *n == "cpu1")
        .collect();
    want.sort_unstable();
    let mut seen: Vec<&str> = lines[0].split_whitespace().collect();
    seen.sort_unstable();
    assert_eq!(seen, want, "{text}");
    assert_eq!(lines[1], "['cpu1']", "Python: {text}");
    assert_eq!(lines[2].trim(), "1", "lscpu -p: {text}");
    let host = |f: &str| std::fs::read_to_string(sys.join(f)).unwrap();
    assert_eq!(lines[3], host("cpu1/topology/core_id").trim(), "{text}");
    let link = std::fs::read_link(sys.join("cpu1/subsystem")).unwrap();
    assert_eq!(lines[4], link.to_str().unwrap(), "{text}");
    assert_eq!(lines[5], "no-cpu0", "{text}");
    assert_eq!(lines[6], "read-only", "{text}");
    assert_eq!(lines[7], "1", "{text}");
}

/// sysinfo(2), answered through the seccomp listener: busybox `free` and `uptime`, glibc's
/// `sysconf(_SC_PHYS_PAGES)` and Python see the container; `--no-sysinfo` the host.
#[test]
fn sysinfo_calls_get_the_containers_figures() {
    require_real_cgroups!();
    require!(
        Path::new("/bin/busybox").exists(),
        "busybox-static is not installed"
    );
    let script = "busybox free | awk '/Mem:/{print $2; print $3}'; busybox uptime; getconf _PHYS_PAGES; \
        python3 -c 'import os; print(os.sysconf(\"SC_PHYS_PAGES\") * os.sysconf(\"SC_PAGE_SIZE\"))'";
    let o = vproc_run(&["--memory", "256m", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "262144", "busybox free: {text}");
    // Used is MemTotal - MemFree (sysinfo) - Cached - SReclaimable (the meminfo view): it once
    // wrapped to 18014398509481953 kB in the v2 lane.
    let used: u64 = lines[1].parse().unwrap();
    assert!(used > 0 && used < 262144, "busybox free's used: {text}");
    assert!(lines[2].contains("up 0 min"), "busybox uptime: {text}");
    assert_eq!(lines[3], "65536", "getconf _PHYS_PAGES: {text}");
    assert_eq!(lines[4], (256u64 << 20).to_string(), "Python: {text}");
    let o = vproc_run(&["--memory", "256m", "--no-sysinfo", "--", "sh", "-c", script])
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_ne!(host.lines().next(), Some("262144"), "{host}");
}

/// Two containers calling sysinfo(2) thousands of times at once from short-lived processes,
/// some killed in the middle of the call: every answer is its own container's, and the
/// answering process holds no more fds afterwards than before.
#[test]
fn sysinfo_survives_a_storm_of_short_lived_callers() {
    require_real_cgroups!();
    require!(
        Path::new("/bin/busybox").exists(),
        "busybox-static is not installed"
    );
    let storm = |kb: u64| {
        format!(
            "echo ready; read go; bad=0; \
             for round in $(seq 25); do \
               for i in $(seq 40); do \
                 ( t=$(busybox free 2>/dev/null | awk '/Mem:/{{print $2}}'); [ \"$t\" = {kb} ] || echo bad $t ) & \
                 [ $((i % 4)) = 0 ] && kill -9 $! 2>/dev/null; \
               done; wait; \
             done; echo done; read end"
        )
    };
    let start = |mb: u64| {
        let mut c = vproc_run(&[
            "--memory",
            &format!("{mb}m"),
            "--",
            "sh",
            "-c",
            &storm(mb * 1024),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let out = std::io::BufReader::new(c.stdout.take().unwrap());
        (c, out)
    };
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let mut runs = [start(128), start(192)];
    let mut before = Vec::new();
    for (c, out) in runs.iter_mut() {
        let mut l = String::new();
        std::io::BufRead::read_line(out, &mut l).unwrap();
        assert_eq!(l.trim(), "ready");
        before.push(fds(c.id()));
    }
    for (c, _) in runs.iter_mut() {
        writeln!(c.stdin.as_mut().unwrap()).unwrap();
    }
    for (i, (c, out)) in runs.iter_mut().enumerate() {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            if std::io::BufRead::read_line(out, &mut l).unwrap() == 0 || l.trim() == "done" {
                break;
            }
            all.push_str(&l);
        }
        assert_eq!(all, "", "container {i} got other figures");
        assert!(fds(c.id()) <= before[i], "fds of vproc run {i}");
        writeln!(c.stdin.as_mut().unwrap()).unwrap();
        assert!(c.wait().unwrap().success());
    }
}

/// `ps` elapsed times: uptime (the container's age) minus each process's start time. In the
/// container's time namespace both count from its start; without it (`--no-time-ns`) start
/// times are the host's and the difference wraps. Processes entering with `vproc exec` join
/// the same clock.
#[test]
fn ps_elapsed_times_are_the_containers() {
    require_real_cgroups!();
    let etimes = |out: &[u8]| -> Vec<u64> {
        String::from_utf8_lossy(out)
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let o = vproc_run(&["--", "sh", "-c", "sleep 2; ps -o etimes= -p 1,2; uptime"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = text.lines();
    let e = etimes(format!("{} {}", lines.next().unwrap(), lines.next().unwrap()).as_bytes());
    assert!(e.iter().all(|&t| (1..30).contains(&t)), "{text}");
    // procps `uptime`: " 12:00:02 up 0 min, ..." (the host's would be hours or days).
    assert!(text.contains("up 0 min"), "{text}");
    // Read again and again, the container's processes' elapsed times never wrap and never
    // exceed the container's life.
    let started = std::time::Instant::now();
    let o = vproc_run(&[
        "--",
        "sh",
        "-c",
        // The init and the shell, not ps or anything started with it: procps shows 4123168608
        // for a process started in the hundredth of a second it reads /proc/uptime in (or
        // after), on the host's own /proc too.
        "for i in $(seq 30); do ps -o etimes= -p 1,$$; done",
    ])
    .output()
    .unwrap();
    // No process of the container is older than the container (a wrapped value is ~2^32).
    let lived = started.elapsed().as_secs() + 1;
    let all = etimes(&o.stdout);
    assert!(all.len() >= 60, "{all:?}");
    assert!(
        all.iter().all(|&t| t <= lived),
        "older than {lived} s: {all:?}"
    );
    let o = vproc_run(&[
        "--no-time-ns",
        "--",
        "sh",
        "-c",
        "sleep 1; ps -o etimes= -p 1",
    ])
    .output()
    .unwrap();
    let e = etimes(&o.stdout);
    assert!(
        e[0] > 1_000_000_000,
        "without the time namespace it wraps: {e:?}"
    );
    // vproc exec joins the container's clock.
    let n = name("etime");
    let mut c = Running(
        vproc_run_named(&n, &["--", "sleep", "60"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the container", || {
        let ps = String::from_utf8_lossy(&vproc(&["ps"]).stdout).into_owned();
        ps.lines()
            .any(|l| l.starts_with(&n) && l.contains("sleep"))
            .then_some(())
    });
    let o = vproc(&["exec", &n, "--", "ps", "-o", "etimes=", "-p", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = etimes(&o.stdout);
    assert!(e[0] < 30, "exec'd ps saw {e:?}");
    c.term();
}

/// `vproc run` killed outright at several points of its life: the container and its embedded
/// view server die with it, nothing stays mounted, and what is left (its cgroups, its record)
/// is removed by `vproc gc` (and by the next `vproc run`).
#[test]
fn sigkill_of_vproc_run_leaves_nothing_after_gc() {
    require_real_cgroups!();
    let prefix = format!("vproc-test-kill-{}-", std::process::id());
    for point in ["at once", "while starting", "while running"] {
        let n = format!("{prefix}{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let mut c = vproc_run_named(&n, &["--memory", "64m", "--", "sleep", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let run_pid = c.id();
        let mut family = Vec::new();
        match point {
            "at once" => {}
            "while starting" => {
                wait_for("the record", || {
                    Path::new("/run/vproc")
                        .join(&n)
                        .join("state")
                        .exists()
                        .then_some(())
                });
            }
            _ => {
                wait_for("the command", || {
                    let ps = String::from_utf8_lossy(&vproc(&["ps"]).stdout).into_owned();
                    ps.lines()
                        .any(|l| l.starts_with(&n) && l.contains("sleep"))
                        .then_some(())
                });
                // The embedded view server and the container's init.
                family = children_of(run_pid);
                assert_eq!(family.len(), 2, "{family:?}");
            }
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(run_pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = c.wait();
        for p in family {
            wait_for("the run's children to die", || (!alive(p)).then_some(()));
        }
        let o = vproc(&["gc"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_no_leftovers(&prefix);
    // The embedded server mounts only in a namespace of its own, which died with it.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("vproc-views"), "{mounts}");
}

#[test]
fn errors_name_their_cause_and_exit_codes_follow_docker() {
    let check = |args: &[&str], code: i32, needle: &str| {
        let o = vproc(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    // vproc run's own failures exit 125, argument errors included.
    check(
        &["run", "--cpus", "0", "--", "true"],
        125,
        "the range of CPUs is from 0.01 to",
    );
    check(
        &["run", "--cpus", "1000", "--", "true"],
        125,
        "the range of CPUs is from 0.01 to",
    );
    check(
        &["run", "--memory", "-5m", "--", "true"],
        125,
        "bad size `-5m`",
    );
    check(
        &["run", "--cpuset-cpus", "999", "--", "true"],
        125,
        "this host's CPUs are",
    );
    check(&["run", "--name", "../x", "--", "true"], 125, "bad name");
    // The whole cause chain is shown.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    check(&["serve", file.to_str().unwrap()], 1, "Not a directory");
    check(
        &["show", "meminfo", "--pid", "999999999"],
        1,
        "no process 999999999",
    );
}

#[test]
fn vproc_mount_pid_refuses_its_own_namespace_and_is_idempotent() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let helper = Path::new(env!("CARGO_BIN_EXE_vproc")).with_file_name("vproc-mount");
    let me = std::process::id().to_string();
    let o = Command::new(&helper)
        .args(["pid", &me, "--source"])
        .arg(&d.mnt)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("own mount namespace"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A container (its own mount namespace): bound once, however often it is asked.
    let container = common::Proc::spawn(Command::new("unshare").args([
        "--mount",
        "--propagation",
        "private",
        "sleep",
        "60",
    ]));
    let pid = container.pid().to_string();
    wait_for("the namespace", || {
        let own = std::fs::read_link("/proc/self/ns/mnt").ok()?;
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
        (own != theirs).then_some(())
    });
    // Mounts on the view targets (the namespace also has copies of every daemon's own mounts).
    let count = || {
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap()
            .lines()
            .filter(|l| {
                let target = l.split(' ').nth(4).unwrap_or("");
                l.contains("fuse.vproc")
                    && (target.starts_with("/proc/") || target.starts_with("/sys/"))
            })
            .count()
    };
    for _ in 0..3 {
        let o = Command::new(&helper)
            .args(["pid", &pid, "--source"])
            .arg(&d.mnt)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            count(),
            vproc_mount::VIEWS.len(),
            "one mount per view (and the CPU directory)"
        );
    }
    // --force replaces them, still one per view.
    let o = Command::new(&helper)
        .args(["pid", &pid, "--force", "--source"])
        .arg(&d.mnt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(count(), vproc_mount::VIEWS.len());
}

/// `/proc/pressure/*`: on cgroup v2 the container's own `*.pressure` files, on v1 (which has
/// none per cgroup) the host's.
#[test]
fn pressure_files_are_the_containers_own() {
    require_real_cgroups!();
    if !Path::new("/proc/pressure/memory").exists() {
        common::not_here("this kernel has no pressure stall information (CONFIG_PSI, psi=1)");
        return;
    }
    let script = "cat /proc/pressure/memory; echo ==; \
        p=$(sed -n 's/^0:://p' /proc/self/cgroup); cat /sys/fs/cgroup$p/memory.pressure 2>/dev/null; echo ==; \
        cat /proc/pressure/cpu; echo ==; cat /sys/fs/cgroup$p/cpu.pressure 2>/dev/null; true";
    let o = vproc_run(&["--memory", "256m", "--", "sh", "-c", script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let parts: Vec<&str> = text.split("==\n").collect();
    assert_eq!(parts.len(), 4, "{text}");
    let psi = |s: &str| vproc::cgroup::text::parse_psi(s.as_bytes()).unwrap();
    let (memory, cpu) = (psi(parts[0]), psi(parts[2]));
    if common::on_v2() {
        // Nothing in the container waited for memory: its file and the view agree exactly.
        assert_eq!(parts[0], parts[1], "{text}");
        // CPU stalls only grow: the view, read first, is at most the file read after it.
        let later = psi(parts[3]);
        assert!(cpu.some.total <= later.some.total, "{text}");
    } else {
        // The host's files, passed through (what the kernel itself shows a v1 container).
        assert!(memory.full.is_some() && cpu.full.is_some(), "{text}");
        assert!(parts[1].is_empty() && parts[3].is_empty(), "{text}");
    }
}
