//! vproc on a real cgroup v2 kernel (and on a hybrid one): run inside the VM lane
//! (`tests/vm/lane.sh`, see README), skipped on hosts without those layouts. Tools are busybox's,
//! so the tests use only sh, cat and sleep.

mod common;

use common::{line, vproc_bin, Daemon};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";

fn is_v2_host() -> bool {
    std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
        .is_ok_and(|c| c.contains("memory"))
}

fn is_hybrid_host() -> bool {
    Path::new(ROOT).join("memory/cgroup.procs").exists()
        && Path::new(ROOT).join("unified/cgroup.procs").exists()
}

/// Runs the rest of the test only on a `$what` host as root. Elsewhere the test is not
/// applicable (the VM lane runs it); inside the lane whose mode is `$lane` (`VPROC_LANE`) a
/// wrong layout fails.
macro_rules! require_layout {
    ($cond:expr, $what:expr, $lane:expr) => {
        if !nix::unistd::geteuid().is_root() {
            common::skip("needs root");
            return;
        }
        if !$cond {
            assert!(
                std::env::var("VPROC_LANE").ok().as_deref() != Some($lane),
                "the VM lane booted without a {} layout",
                $what
            );
            common::not_here(&format!(
                "needs a {} host (the VM lane provides one)",
                $what
            ));
            return;
        }
    };
}

/// A v2 cgroup under this process's own cgroup, removed (after killing its processes) on drop.
struct Cg {
    dir: PathBuf,
}

impl Cg {
    fn top(name: &str) -> Cg {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap()
            .to_owned();
        Self::at(Path::new(ROOT).join(own.trim_start_matches('/')).join(name))
    }

    fn at(dir: PathBuf) -> Cg {
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Cg { dir }
    }

    /// A child, with every controller delegated to it.
    fn child(&self, name: &str) -> Cg {
        let avail = std::fs::read_to_string(self.dir.join("cgroup.controllers")).unwrap();
        for c in avail.split_whitespace() {
            let _ = std::fs::write(self.dir.join("cgroup.subtree_control"), format!("+{c}"));
        }
        Self::at(self.dir.join(name))
    }

    fn set(&self, file: &str, value: &str) -> &Self {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("{file} = {value}: {e}"));
        self
    }

    fn join(&self) -> String {
        format!("echo $$ > {}/cgroup.procs; ", self.dir.display())
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.dir).is_err()
            && self.dir.exists()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn views_follow_v2_limits() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    let d = Daemon::start(&[]);
    let top = Cg::top("vproc-test-v2");
    let c = top.child("limits");
    c.set("memory.max", "268435456")
        .set("memory.swap.max", "67108864")
        .set("cpu.max", "50000 100000")
        .set("cpuset.cpus", "1")
        .set("pids.max", "50");
    let m = d.mnt.display();
    let read = |f: &str| sh(&format!("{}cat {m}/{f}", c.join()));
    let meminfo = read("proc/meminfo");
    assert_eq!(line(&meminfo, "MemTotal:"), "MemTotal:         262144 kB");
    // memory.swap.max 64 MiB, under the VM's 256 MiB zram swap.
    assert_eq!(line(&meminfo, "SwapTotal:"), "SwapTotal:         65536 kB");
    assert_eq!(read("sys/devices/system/cpu/online"), "1\n");
    let cpuinfo = read("proc/cpuinfo");
    assert_eq!(cpuinfo.matches("processor\t:").count(), 1);
    assert!(cpuinfo.contains("processor\t: 1\n"));
    let stat = read("proc/stat");
    assert_eq!(
        stat.lines().filter(|l| l.starts_with("cpu")).count(),
        2,
        "{stat}"
    );
    assert!(stat.contains("\ncpu1 "));
    let swaps = read("proc/swaps");
    assert!(swaps.contains("partition\t65536\t"), "{swaps}");
    assert!(
        !swaps.contains("zram"),
        "host devices must not show: {swaps}"
    );
    // pids.current of the cgroup (the reading shell and cat) before any load sample.
    let load = read("proc/loadavg");
    let total: u64 = load
        .split_whitespace()
        .nth(3)
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&total), "{load}");
    // io.stat has no device with I/O here: every host device line shows zeros.
    let disk = read("proc/diskstats");
    for l in disk.lines() {
        assert!(l.split_whitespace().skip(3).all(|v| v == "0"), "{l}");
    }
}

#[test]
fn ancestor_limits_apply_and_nested_cgroups_do_not_narrow() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    let d = Daemon::start(&[]);
    let top = Cg::top("vproc-test-v2-nest");
    top.set("memory.max", "536870912");
    // v2 lets processes live only in leaves, so the container's init sits in init.scope (as
    // under systemd); the container is its parent, and a worker goes to a sibling with a
    // smaller limit.
    let container = top.child("container");
    let init_scope = container.child("init.scope");
    let worker = container.child("worker");
    worker.set("memory.max", "134217728");
    let m = d.mnt.display();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display();
    // The container's init (pid 1 of a new pid namespace) reads, then moves a worker into a
    // nested cgroup with a smaller limit, which reads too.
    let script = out.path().join("container.sh");
    std::fs::write(
        &script,
        format!(
            "cat {m}/proc/uptime > {o}/uptime\nsh -c 'echo $$ > {w}/cgroup.procs; cat {m}/proc/meminfo > {o}/worker'\ncat {m}/proc/meminfo > {o}/init\n",
            w = worker.dir.display()
        ),
    )
    .unwrap();
    sh(&format!(
        "{}unshare -f -p sh {}",
        init_scope.join(),
        script.display()
    ));
    let read = |f: &str| std::fs::read_to_string(out.path().join(f)).unwrap();
    assert_eq!(
        line(&read("init"), "MemTotal:"),
        "MemTotal:         524288 kB"
    );
    assert_eq!(
        line(&read("worker"), "MemTotal:"),
        "MemTotal:         524288 kB"
    );
    let up = common::first_number(&read("uptime"));
    assert!(up < 2.0, "a fresh pid namespace is {up} s old");
    // A host-namespace process in the nested cgroup is judged by its own cgroup.
    let own = sh(&format!("{}cat {m}/proc/meminfo", worker.join()));
    assert_eq!(line(&own, "MemTotal:"), "MemTotal:         131072 kB");
}

#[test]
fn stat_tracks_a_container_burning_its_quota() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    let d = Daemon::start(&[]);
    let top = Cg::top("vproc-test-v2-cpu");
    let c = top.child("burn");
    c.set("cpu.max", "50000 100000");
    let _burner = common::Proc::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{}while :; do :; done", c.join())),
    );
    let m = d.mnt.display();
    let cpu_line = || -> Vec<u64> {
        let s = sh(&format!("{}cat {m}/proc/stat", c.join()));
        line(&s, "cpu ")
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect()
    };
    std::thread::sleep(Duration::from_millis(500));
    let (t0, a) = (Instant::now(), cpu_line());
    std::thread::sleep(Duration::from_secs(4));
    let (t1, b) = (Instant::now(), cpu_line());
    let busy = (b[0] + b[2]) as f64 - (a[0] + a[2]) as f64;
    let idle = b[3] as f64 - a[3] as f64;
    let wall_ticks = (t1 - t0).as_secs_f64() * 100.0;
    // The quota is half a CPU: busy time grows at 0.5 tick per tick of wall time (tolerance
    // +-0.15), and, since the container uses all of its capacity, idle stays under 20% of it.
    let share = busy / wall_ticks;
    assert!(
        (0.35..=0.65).contains(&share),
        "busy share {share:.2} (busy {busy}, wall {wall_ticks:.0} ticks)"
    );
    assert!(idle <= 0.2 * (busy + idle), "idle {idle} vs busy {busy}");
}

#[test]
fn vproc_run_applies_v2_limits() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    let out = Command::new(vproc_bin())
        .args(["run", "--memory", "256m", "--cpus", "0.5", "--cpuset-cpus", "1", "--pids-limit", "30"])
        .args(["--cgroup-parent", "vproc-test-v2-run", "--name", "vproc-test-c"])
        .args(["--", "sh", "-c"])
        .arg("head -1 /proc/meminfo; cat /sys/devices/system/cpu/online /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max; cat /proc/self/cgroup")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "MemTotal:         262144 kB",
            "1",
            "268435456",
            "50000 100000",
            "30",
            "0::/"
        ]
    );
    // The container's cgroup is gone; the parent stays, like Docker's.
    let parent = Path::new(ROOT).join("vproc-test-v2-run");
    assert!(!parent.join("vproc-test-c").exists());
    let _ = std::fs::remove_dir(parent);
    // (busybox's free uses sysinfo(2), which no file can change; the view is checked directly.)
    let again = Command::new(vproc_bin())
        .args([
            "run",
            "--memory",
            "128m",
            "--cgroup-parent",
            "vproc-test-v2-run",
            "--",
            "head",
            "-1",
            "/proc/meminfo",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "MemTotal:         131072 kB\n"
    );
    let _ = std::fs::remove_dir(Path::new(ROOT).join("vproc-test-v2-run"));
}

#[test]
fn hybrid_host_reads_v1_controllers() {
    require_layout!(
        is_hybrid_host(),
        "hybrid host (v1 controllers plus cgroup2)",
        "hybrid"
    );
    let d = Daemon::start(&[]);
    let cg = common::TestCgroup::new("hybrid");
    cg.set("memory", "memory.limit_in_bytes", "314572800")
        .set("cpuset", "cpuset.cpus", "0")
        .set("cpu", "cpu.cfs_quota_us", "50000");
    let m = d.mnt.display();
    let meminfo = common::run_in(&cg, &format!("cat {m}/proc/meminfo"));
    assert_eq!(line(&meminfo, "MemTotal:"), "MemTotal:         307200 kB");
    assert_eq!(
        common::run_in(&cg, &format!("cat {m}/sys/devices/system/cpu/online")),
        "0\n"
    );
    let stat = common::run_in(&cg, &format!("cat {m}/proc/stat"));
    assert_eq!(stat.lines().filter(|l| l.starts_with("cpu")).count(), 2);
}

#[test]
fn io_stat_shows_in_diskstats() {
    require_layout!(
        is_v2_host() && Path::new("/sys/class/zram-control/hot_add").exists(),
        "v2 host with zram",
        "v2"
    );
    let d = Daemon::start(&[]);
    // A scratch block device: 16 MiB of zram.
    let id = std::fs::read_to_string("/sys/class/zram-control/hot_add")
        .unwrap()
        .trim()
        .to_owned();
    std::fs::write(format!("/sys/block/zram{id}/disksize"), "16777216").unwrap();
    let top = Cg::top("vproc-test-v2-io");
    let c = top.child("io");
    let dev = format!("/dev/zram{id}");
    sh(&format!(
        "{}dd if=/dev/zero of={dev} bs=4096 count=256 oflag=direct 2>/dev/null; dd if={dev} of=/dev/null bs=4096 count=128 iflag=direct 2>/dev/null",
        c.join()
    ));
    let zram = format!("zram{id}");
    // The diskstats row of the scratch device, as a process of `cg` reads it.
    let row_of = |cg: &Cg| -> String {
        let disk = sh(&format!(
            "{}cat {}/proc/diskstats",
            cg.join(),
            d.mnt.display()
        ));
        let row = disk
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(zram.as_str()));
        row.unwrap().to_owned()
    };
    let row = row_of(&c);
    // 128 reads of 8 sectors, 256 writes of 8 sectors, from io.stat; everything else 0.
    let fields: Vec<&str> = row.split_whitespace().skip(3).collect();
    assert_eq!(
        fields[..8],
        ["128", "0", "1024", "0", "256", "0", "2048", "0"],
        "{row}"
    );
    // Another cgroup did no I/O on it.
    let other = top.child("idle");
    let row = row_of(&other);
    assert!(row.split_whitespace().skip(3).all(|v| v == "0"), "{row}");
    let _ = std::fs::write("/sys/class/zram-control/hot_remove", &id);
}

#[test]
fn worker_crashes_lose_at_most_the_requests_in_hand() {
    require_layout!(true, "any host", "");
    // Runs in both VM lanes too, whose kernel (6.1) has no FUSE_NOTIFY_RESEND: there a crash
    // may fail the reads the worker held, never more, and never hang a reader.
    let d = Daemon::start(&["--threads", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop");
    let progress = dir.path().join("progress");
    // The reader says how far it got after every read, so the test waits for reads, not for
    // time: an emulated VM or a busy machine reads slowly, never wrongly.
    let script = format!(
        "n=0; f=0; while [ ! -e {s} ]; do n=$((n+1)); cat {m}/proc/uptime > /dev/null 2>&1 || f=$((f+1)); echo $n > {p}; done; echo $n $f",
        s = stop.display(),
        m = d.mnt.display(),
        p = progress.display()
    );
    let reader = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `None` while the file is being rewritten (empty for an instant), never a false 0.
    let reads = || -> Option<u64> {
        std::fs::read_to_string(&progress)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    };
    let more_reads = |what: &str| {
        let from = common::wait_for("the reader's progress", reads);
        common::wait_for(what, || reads().filter(|&n| n >= from + 3));
    };
    let status_of = || vproc::fs::supervisor::Status::read(&d.mnt);
    for _ in 0..5 {
        let before = common::wait_for("the status file", status_of);
        more_reads("reads before a crash");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(before.worker),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        common::wait_for("a new worker", || {
            status_of().filter(|s| s.generation > before.generation)
        });
    }
    more_reads("reads after the last crash");
    std::fs::write(&stop, "").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(reader.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a reader hung after a worker crash")
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(v[0] >= 18, "{s}");
    // 5 crashes x 2 threads: at most one request in hand per thread.
    assert!(v[1] <= 10, "{} of {} reads failed", v[1], v[0]);
    let after = std::fs::read_to_string(d.mnt.join("proc/uptime")).unwrap();
    assert!(!after.is_empty());
}

#[test]
fn crun_runs_the_hook_on_v2() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    // crun refuses the dev machine's hybrid layout (tests/engines.rs); the lane brings it here.
    if Command::new("crun").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("VPROC_LANE").is_none(),
            "the lane must include crun"
        );
        common::skip("crun is not installed");
        return;
    }
    // The VM runs from its initramfs, which cannot be pivoted away from.
    common::run_bundle("crun", &["--no-pivot"]);
}

/// Whether `free` is procps' (it reads /proc/meminfo; busybox's calls sysinfo(2)).
fn procps_free() -> bool {
    Command::new("free")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("procps"))
}

/// What real tools report inside a container whose init is `sh` in its own pid, mount and
/// cgroup namespaces, started in cgroup `cg` (or moved into `sub` of it first, as systemd in
/// a container moves itself into `init.scope`), with the views of `mnt` bound over /proc and
/// /sys: its /proc/self/cgroup, `free`'s Mem and Swap totals, the processors of cpuinfo and
/// `getconf _NPROCESSORS_ONLN`.
fn tools_in(cg: &Cg, sub: Option<&str>, mnt: &Path) -> Vec<String> {
    let moved = sub.map_or(String::new(), |s| {
        format!(
            "mkdir {d}/{s}; echo $$ > {d}/{s}/cgroup.procs; ",
            d = cg.dir.display()
        )
    });
    let script = format!(
        "{join}exec unshare --mount --cgroup --pid --fork --mount-proc sh -c '\
         {moved}\
         for v in proc/meminfo proc/cpuinfo proc/stat proc/uptime sys/devices/system/cpu/online; do \
           mount --bind {m}/$v /$v || exit 1; done; \
         cat /proc/self/cgroup; \
         free -k | awk \"/^Mem:/ {{print \\$2}} /^Swap:/ {{print \\$2}}\"; \
         grep -c ^processor /proc/cpuinfo; getconf _NPROCESSORS_ONLN'",
        join = cg.join(),
        m = mnt.display()
    );
    sh(&script).lines().map(str::to_owned).collect()
}

/// The cgroup layouts production runs, made for real, and what `free`, `getconf` and the
/// views show inside: Docker under systemd (`system.slice/docker-<id>.scope`, limits on the
/// scope), a Kubernetes pod (`kubepods.slice/.../cri-containerd-<id>.scope`) whose limits are
/// on the pod slice only with cpuset on an ancestor and `memory.high` below `memory.max`, a
/// container with systemd inside (its init in its own `init.scope`), each in its own cgroup
/// namespace (`0::/`) and with swap limited on zram.
#[test]
fn production_layouts_show_the_containers_numbers() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    if !procps_free() {
        assert!(
            std::env::var("VPROC_LANE_USERLAND").ok().as_deref() != Some("host"),
            "the host-userland lane must have procps"
        );
        common::not_here("needs procps' free (the host-userland lane has it)");
        return;
    }
    let swap = std::fs::read_to_string("/proc/swaps")
        .unwrap()
        .lines()
        .count()
        > 1;
    let d = Daemon::start(&[]);
    let top = Cg::top(&format!("vproc-test-layouts-{}", std::process::id()));

    // Docker with the systemd cgroup driver: the limits on the container's scope.
    let system = top.child("system.slice");
    let docker = system.child("docker-0123abcd.scope");
    docker
        .set("memory.max", "268435456")
        .set("memory.swap.max", "67108864")
        .set("cpu.max", "50000 100000");
    let out = tools_in(&docker, None, &d.mnt);
    let swap_total = if swap { "65536" } else { "0" };
    assert_eq!(out, ["0::/", "262144", swap_total, "1", "1"], "docker");
    // systemd inside the container moves itself into init.scope: the scope's limits hold.
    let out = tools_in(&docker, Some("init.scope"), &d.mnt);
    assert_eq!(
        out,
        ["0::/init.scope", "262144", swap_total, "1", "1"],
        "systemd inside"
    );

    // A burstable Kubernetes pod: memory and CPU limits on the pod slice, none on the
    // container's scope; cpuset on the QoS slice; memory.high (MemoryQoS) on the container.
    let kubepods = top.child("kubepods.slice");
    let burstable = kubepods.child("kubepods-burstable.slice");
    burstable.set("cpuset.cpus", "0");
    let pod = burstable.child("kubepods-burstable-pod0a1b2c3d_4e5f.slice");
    pod.set("memory.max", "402653184")
        .set("cpu.max", "200000 100000");
    let container = pod.child("cri-containerd-4567ef.scope");
    container.set("memory.high", "201326592");
    let out = tools_in(&container, None, &d.mnt);
    // 384 MiB (memory.max, not memory.high: see docs/views.md); swap unlimited, so the
    // host's; 2 CPUs of quota, but the cpuset has one.
    let host_swap = line(
        &std::fs::read_to_string("/proc/meminfo").unwrap(),
        "SwapTotal:",
    )
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_owned();
    assert_eq!(out, ["0::/", "393216", &host_swap, "1", "1"], "pod");
}

/// A pod whose containers share one pid namespace (`shareProcessNamespace`): with
/// `--per-caller` each container's processes see their own container's limits, not those of
/// the pod's first process.
#[test]
fn shared_pid_namespace_pods_need_per_caller() {
    require_layout!(is_v2_host(), "v2 host", "v2");
    let d = Daemon::start(&["--per-caller"]);
    let top = Cg::top(&format!("vproc-test-sharedpid-{}", std::process::id()));
    let pod = top.child("kubepods-pod1.slice");
    pod.set("memory.max", "536870912");
    let pause = pod.child("cri-containerd-pause.scope");
    let app = pod.child("cri-containerd-app.scope");
    app.set("memory.max", "134217728");
    let side = pod.child("cri-containerd-side.scope");
    side.set("memory.max", "201326592");
    // The pod's pid namespace, its first process the pause container's.
    let pause_proc = common::Proc::spawn(Command::new("sh").arg("-c").arg(format!(
        "{}exec unshare --pid --fork --mount-proc sleep 60",
        pause.join()
    )));
    let ns_holder = common::wait_for("the pause process", || {
        common::children(pause_proc.pid()).first().copied()
    });
    let read_in = |cg: &Cg| -> String {
        let out = sh(&format!(
            "{}exec nsenter --pid=/proc/{ns_holder}/ns/pid head -1 {}/proc/meminfo </dev/null",
            cg.join(),
            d.mnt.display()
        ));
        out.trim().to_owned()
    };
    assert_eq!(read_in(&app), "MemTotal:         131072 kB");
    assert_eq!(read_in(&side), "MemTotal:         196608 kB");
}

/// The default parent (`/vproc` at each hierarchy's root), as a new user gets it with no
/// `--cgroup-parent`: every level usable (v1 cpuset given CPUs and memory nodes, v2
/// controllers delegated) and removed once empty. Only inside the VM lanes (v2 and hybrid),
/// whose hierarchy roots belong to the test.
#[test]
fn the_default_parent_works_and_goes_away() {
    if std::env::var_os("VPROC_LANE").is_none() {
        common::not_here("it creates /vproc at the hierarchy roots: the VM lanes run it");
        return;
    }
    let out = Command::new(vproc_bin())
        .args(["run", "--memory", "128m", "--cpus", "0.5", "--"])
        .args(["head", "-1", "/proc/meminfo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "MemTotal:         131072 kB\n"
    );
    let mut left = Vec::new();
    for dir in std::fs::read_dir(ROOT).unwrap().flatten() {
        let p = dir.path();
        // v2: /sys/fs/cgroup/vproc; v1: /sys/fs/cgroup/<controller>/vproc.
        for cand in [p.clone(), p.join("vproc")] {
            if cand.ends_with("vproc") && cand.is_dir() {
                left.push(cand);
            }
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}
