//! Helpers shared by the integration tests: real test cgroups with Drop cleanup, and
//! processes that are killed when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// v1 controllers the tests create cgroups in.
pub const V1_CONTROLLERS: [&str; 6] = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"];

/// Controllers a cgroup v2 test cgroup gets (`io` too where the kernel has it).
const V2_CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuset", "pids"];

/// Whether the tests run on cgroup v2 only (the VM lane): `/sys/fs/cgroup` is the unified
/// hierarchy, with the controllers the tests limit.
pub fn on_v2() -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").is_ok_and(|c| {
        let have: Vec<&str> = c.split_whitespace().collect();
        V2_CONTROLLERS.iter().all(|w| have.contains(w))
    })
}

/// Why real-cgroup tests cannot run here, or `None` if they can (v1 hierarchies, or cgroup
/// v2 with the controllers the tests use).
pub fn cannot_use_real_cgroups() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    if on_v2() {
        return None;
    }
    for c in V1_CONTROLLERS {
        if !Path::new("/sys/fs/cgroup")
            .join(c)
            .join("cgroup.procs")
            .exists()
        {
            return Some(format!("no cgroup v1 {c} hierarchy at /sys/fs/cgroup/{c}"));
        }
    }
    None
}

/// Whether every test must really run (`VPROC_REQUIRE_REAL=1`, which `.ci/run` sets): then a
/// test that would skip for want of a tool, a privilege or a cgroup layout fails instead, so CI
/// can never go green on a machine where half the suite skipped.
pub fn real_required() -> bool {
    std::env::var_os("VPROC_REQUIRE_REAL").is_some_and(|v| v != "0")
}

/// Called by a test that cannot run here: prints `skipped: WHY` (the caller then returns), or
/// fails the test when [`real_required`].
pub fn skip(why: &str) {
    assert!(
        !real_required(),
        "VPROC_REQUIRE_REAL is set, but this test would skip: {why}"
    );
    eprintln!("skipped: {why}");
}

/// Called by a test that by design runs elsewhere (the cgroup v2 tests on a v1 host run in the
/// VM lane): prints `n/a here: WHY` and never fails.
pub fn not_here(why: &str) {
    eprintln!("n/a here: {why}");
}

/// Skips the calling test (returns from it) with a message when real cgroups are unusable.
#[macro_export]
macro_rules! require_real_cgroups {
    () => {
        if let Some(why) = common::cannot_use_real_cgroups() {
            common::skip(&why);
            return;
        }
    };
}

/// Returns from the calling test unless `cond` holds, through [`skip`] with `why`.
#[macro_export]
macro_rules! require {
    ($cond:expr, $why:expr) => {
        if !$cond {
            common::skip(&$why);
            return;
        }
    };
}

/// A `vproc-test-*` cgroup in every v1 hierarchy, under this test process's own cgroup, removed
/// on drop after its processes are killed.
pub struct TestCgroup {
    pub name: String,
    dirs: Vec<(String, PathBuf)>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// This process's cgroup in the hierarchy of `controller` (`""`: the v2 one).
fn own_cgroup(controller: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
            let found = if controller.is_empty() {
                ctrls.is_empty()
            } else {
                ctrls.split(',').any(|c| c == controller)
            };
            found.then(|| path.to_owned())
        })
        .unwrap_or_else(|| "/".into())
}

/// Lets the children of v2 cgroup `dir` use the test controllers (each one the kernel has).
fn enable_v2_controllers(dir: &Path) {
    let have = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    for c in V2_CONTROLLERS.iter().chain(&["io"]) {
        if have.split_whitespace().any(|h| h == *c) {
            // Already on, or refused (processes in `dir` itself): creating the child says.
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
        }
    }
}

impl TestCgroup {
    /// Creates the cgroup in every hierarchy; cpuset starts with the parent's CPUs and mems.
    /// On cgroup v2, one directory with the test controllers, which [`TestCgroup::dir`] returns
    /// for any controller.
    pub fn new(tag: &str) -> Self {
        let name = format!(
            "vproc-test-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut cg = TestCgroup {
            name: name.clone(),
            dirs: Vec::new(),
        };
        if on_v2() {
            let parent = Path::new("/sys/fs/cgroup").join(own_cgroup("").trim_start_matches('/'));
            enable_v2_controllers(&parent);
            let dir = parent.join(&name);
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            cg.dirs.push(("v2".into(), dir));
            return cg;
        }
        for c in V1_CONTROLLERS {
            let parent = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(own_cgroup(c).trim_start_matches('/'));
            let dir = parent.join(&name);
            // Co-mounted controllers (cpu,cpuacct behind two links) share one directory.
            let real = parent.canonicalize().unwrap().join(&name);
            if let Some(same) = cg
                .dirs
                .iter()
                .find(|(_, d)| d.canonicalize().ok() == Some(real.clone()))
            {
                let same = same.1.clone();
                cg.dirs.push((c.to_owned(), same));
                continue;
            }
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            cg.dirs.push((c.to_owned(), dir.clone()));
            if c == "cpuset" {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(parent.join(f)).unwrap();
                    std::fs::write(dir.join(f), v.trim()).unwrap();
                }
            }
        }
        cg
    }

    /// A child cgroup of this one (same cleanup), e.g. a nested cgroup inside a container.
    pub fn child(&self, name: &str) -> TestCgroup {
        let mut cg = TestCgroup {
            name: format!("{}/{name}", self.name),
            dirs: Vec::new(),
        };
        for (c, parent) in &self.dirs {
            if c == "v2" {
                enable_v2_controllers(parent);
            }
            let dir = parent.join(name);
            std::fs::create_dir(&dir).unwrap();
            if c == "cpuset" {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(parent.join(f)).unwrap();
                    std::fs::write(dir.join(f), v.trim()).unwrap();
                }
            }
            cg.dirs.push((c.clone(), dir));
        }
        cg
    }

    /// The directory in one hierarchy (on v2, the one directory).
    pub fn dir(&self, controller: &str) -> &Path {
        &self
            .dirs
            .iter()
            .find(|(c, _)| c == controller || c == "v2")
            .unwrap_or_else(|| panic!("no {controller}"))
            .1
    }

    /// Writes a control file by its v1 name, e.g. `set("memory", "memory.limit_in_bytes",
    /// "268435456")`; on v2, the file that means the same (`memory.max`, `cpu.max`...).
    pub fn set(&self, controller: &str, file: &str, value: &str) -> &Self {
        let (file, value) = if self.dirs.first().is_some_and(|(c, _)| c == "v2") {
            v2_equivalent(self.dir(controller), file, value)
        } else {
            (file.to_owned(), value.to_owned())
        };
        let path = self.dir(controller).join(&file);
        std::fs::write(&path, &value).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// The common limits of the tests: 256 MiB, cpuset 0, half a CPU.
    pub fn with_standard_limits(self) -> Self {
        self.set("memory", "memory.limit_in_bytes", "268435456")
            .set("cpuset", "cpuset.cpus", "0")
            .set("cpu", "cpu.cfs_quota_us", "50000");
        self
    }

    /// Moves a process into every hierarchy.
    pub fn add(&self, pid: u32) {
        for (_, d) in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), pid.to_string()).unwrap();
        }
    }

    /// Shell commands that move the shell itself into this cgroup (for `sh -c`).
    pub fn join_script(&self) -> String {
        self.dirs
            .iter()
            .map(|(_, d)| format!("echo $$ > '{}/cgroup.procs'; ", d.display()))
            .collect()
    }

    fn pids(&self) -> Vec<i32> {
        let mut v = Vec::new();
        for (_, d) in &self.dirs {
            if let Ok(t) = std::fs::read_to_string(d.join("cgroup.procs")) {
                v.extend(t.lines().filter_map(|l| l.parse::<i32>().ok()));
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The cgroup v2 file and value for a v1 control file write in `dir`.
fn v2_equivalent(dir: &Path, file: &str, value: &str) -> (String, String) {
    let period = || {
        std::fs::read_to_string(dir.join("cpu.max"))
            .ok()
            .and_then(|t| t.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_else(|| "100000".into())
    };
    match file {
        "memory.limit_in_bytes" => ("memory.max".into(), value.into()),
        "memory.soft_limit_in_bytes" => ("memory.low".into(), value.into()),
        "memory.memsw.limit_in_bytes" => {
            // v1 counts memory plus swap; v2 limits swap alone.
            let mem: u64 = std::fs::read_to_string(dir.join("memory.max"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            let both: u64 = value.parse().unwrap();
            (
                "memory.swap.max".into(),
                both.saturating_sub(mem).to_string(),
            )
        }
        "cpu.cfs_quota_us" => ("cpu.max".into(), format!("{value} {}", period())),
        "cpu.shares" => {
            // The kernel's own mapping of shares onto weights.
            let shares: u64 = value.parse().unwrap();
            let weight = 1 + (shares.saturating_sub(2) * 9999) / 262142;
            ("cpu.weight".into(), weight.to_string())
        }
        _ => (file.into(), value.into()),
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        self.dirs.dedup_by(|a, b| a.1 == b.1);
        // Only our own processes are in our own cgroups; kill them so rmdir can succeed.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for (_, d) in self.dirs.iter().rev() {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Spawns `cmd`, retrying while the binary is "busy": a copy just written by this process can
/// still be open for writing in a child another test thread forked meanwhile (ETXTBSY).
pub fn spawn_copied_binary(cmd: &mut Command) -> Child {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => return r.unwrap(),
        }
    }
    cmd.spawn().unwrap()
}

/// A child process killed and reaped on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc(cmd.spawn().expect("spawn"))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` until it returns `Some`, for up to 30 s (120 s in the VM lane).
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    // A guard against hangs, not a speed limit: generous, and more so in the emulated VM lane,
    // where a debug daemon can take over 10 s to start when the host is busy.
    let limit = if std::env::var_os("VPROC_LANE").is_some() {
        120
    } else {
        30
    };
    let deadline = Instant::now() + Duration::from_secs(limit);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The children of a process (from `/proc/<pid>/task/*/children`).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// A `vproc serve` child process on a temp mountpoint; stopped (SIGTERM, then SIGKILL and a
/// lazy unmount) on drop, so a failing test still leaves no mount behind.
pub struct Daemon {
    pub child: Child,
    pub mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("vproc-test-")
            .tempdir()
            .unwrap();
        let mnt = dir.path().join("mnt");
        Self::start_at(dir, mnt, extra)
    }

    pub fn start_at(dir: tempfile::TempDir, mnt: PathBuf, extra: &[&str]) -> Daemon {
        Self::start_wrapped(dir, mnt, &[], extra)
    }

    /// Starts the daemon through a wrapper command (`unshare -C`, `nsenter ...`); the wrapper
    /// must exec it, so that the child's pid is the daemon's.
    pub fn start_wrapped(
        dir: tempfile::TempDir,
        mnt: PathBuf,
        wrapper: &[&str],
        extra: &[&str],
    ) -> Daemon {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(vproc_bin());
                c
            }
            None => Command::new(vproc_bin()),
        };
        // Warnings only: a test's output is not the place for every daemon's start and stop.
        let child = cmd
            .arg("serve")
            .arg(&mnt)
            .args(["--log-level", "warn"])
            .args(extra)
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            mnt,
            _dir: dir,
        };
        d.wait_mounted();
        d
    }

    pub fn wait_mounted(&self) {
        let probe = self.mnt.join("sys/devices/system/cpu/online");
        wait_for("the mount", || probe.exists().then_some(()));
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_mounted(&self) -> bool {
        is_mounted(&self.mnt)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
        if self.is_mounted() {
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
        // A supervisor that was killed outright could not remove its status files.
        vproc::fs::supervisor::status::remove_all(&self.mnt);
        let _ = std::fs::remove_file(vproc_mount::devices::state_file(&self.mnt, "devices"));
    }
}

/// The `vproc` binary: `$VPROC_BIN` when set (inside the test VM, where the build directory
/// does not exist), else the one cargo built.
pub fn vproc_bin() -> PathBuf {
    std::env::var_os("VPROC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vproc")))
}

/// Unmounts (lazily) whatever is mounted at a path and removes the daemon's status files there
/// on drop, so a test that panics with a daemon's mount in place still leaves nothing behind.
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        while is_mounted(&self.0) {
            if nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
        vproc::fs::supervisor::status::remove_all(&self.0);
        let _ = std::fs::remove_file(vproc_mount::devices::state_file(&self.0, "devices"));
    }
}

/// Whether something is mounted exactly at `path`.
pub fn is_mounted(path: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = path.to_string_lossy().replace(' ', "\\040");
    text.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// Runs `sh -c SCRIPT` after joining `cg`, returning stdout (panics on failure).
pub fn run_in(cg: &TestCgroup, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{}{script}", cg.join_script()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `vproc-mount` binary: `$VPROC_MOUNT_BIN` (in the VM lane), else next to vproc's.
pub fn vproc_mount_bin() -> PathBuf {
    std::env::var_os("VPROC_MOUNT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_BIN_EXE_vproc")).with_file_name("vproc-mount"))
}

/// A busybox root filesystem (reads use `head`: busybox `cat` uses sendfile, see docs/serve.md).
pub fn rootfs(dir: &Path) -> Option<PathBuf> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for t in ["sh", "head", "cat"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(t)).unwrap();
    }
    // procps free and GNU cat, as a distribution image has them (busybox's free uses
    // sysinfo(2) and its cat sendfile(2), which no view can answer): the host's, with their
    // libraries at the same paths.
    for tool in ["/usr/bin/free", "/usr/bin/cat"] {
        if Path::new(tool).exists() {
            copy_with_libs(Path::new(tool), &root);
        }
    }
    Some(root)
}

fn copy_with_libs(bin: &Path, root: &Path) {
    let mut files = vec![bin.to_owned()];
    if let Ok(out) = Command::new("ldd").arg(bin).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line
                .split("=>")
                .last()
                .unwrap_or(line)
                .split_whitespace()
                .next()
                .unwrap_or("");
            if path.starts_with('/') {
                files.push(PathBuf::from(path));
            }
        }
    }
    for f in files {
        let dst = root.join(f.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        if !dst.exists() {
            std::fs::copy(&f, &dst).unwrap();
        }
    }
}

/// What a container runs in the engine tests: `free -b` and `cat` where the image has them.
pub const SCRIPT: &str = "if [ -x /usr/bin/free ]; then /usr/bin/free -b | grep Mem:; /usr/bin/cat /proc/meminfo | head -1; else head -1 /proc/meminfo; fi; head -1 /sys/devices/system/cpu/online";

/// Checks SCRIPT's output for a 256 MiB, CPU 0 container.
pub fn check_script_output(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    if let Some(mem) = lines.iter().find(|l| l.starts_with("Mem:")) {
        assert_eq!(
            mem.split_whitespace().nth(1),
            Some("268435456"),
            "free -b: {text}"
        );
    } else {
        assert!(
            !Path::new("/usr/bin/free").exists(),
            "free -b was expected: {text}"
        );
    }
    assert!(lines.contains(&"MemTotal:         262144 kB"), "{text}");
    assert_eq!(lines.last(), Some(&"0"), "{text}");
}

/// An OCI bundle for `runtime spec`, limited to 256 MiB and CPU 0, with the hook.
pub fn bundle(runtime: &str, dir: &Path, source: &Path) -> PathBuf {
    rootfs(dir).unwrap();
    let out = Command::new(runtime)
        .arg("spec")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{runtime} spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["terminal"] = false.into();
    // First: how many of the container's own files (the containers tree) are bound; then
    // which cpuN the CPU directory lists.
    c["process"]["args"] = serde_json::json!([
        "sh",
        "-c",
        format!(
            "busybox grep -c ' - fuse.vproc vproc-containers ' /proc/self/mountinfo; \
            echo $(busybox ls /sys/devices/system/cpu | busybox grep '^cpu[0-9]'); {SCRIPT}"
        )
    ]);
    c["root"] = serde_json::json!({"path": "rootfs", "readonly": false});
    c["linux"]["resources"] =
        serde_json::json!({"memory": {"limit": 268435456}, "cpu": {"cpus": "0", "mems": "0"}});
    // Relative: under the runtime's own cgroup in each hierarchy.
    c["linux"]["cgroupsPath"] = format!(
        "vproc-test-{runtime}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
    .into();
    c["hooks"] = serde_json::json!({"createContainer": [{
        "path": vproc_mount_bin(),
        "args": ["vproc-mount", "oci-hook", "--source", source],
    }]});
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    dir.to_owned()
}

/// The first line of `text` that starts with `key`.
pub fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

/// Runs a bundle with the hook under `runtime` (`extra`: options of `run`), deletes the
/// container, and checks what SCRIPT printed.
pub fn run_bundle(runtime: &str, extra: &[&str]) {
    let d = Daemon::start(&[]);
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-bundle")
        .tempdir()
        .unwrap();
    let id = format!("vproc-test-{runtime}-{}", std::process::id());
    let b = bundle(runtime, dir.path(), &d.mnt);
    let out = Command::new(runtime)
        .arg("run")
        .args(extra)
        .arg("--bundle")
        .arg(&b)
        .arg(&id)
        .output()
        .unwrap();
    let _ = Command::new(runtime)
        .args(["delete", "--force", &id])
        .output();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{runtime}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // runc names its init 1 in the hook's state (the pid as the container sees it): the hook
    // once took that for the host's pid 1 and bound the host's views, or every reader's.
    let own: usize = text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        own >= 10,
        "{runtime}: the container's own files are bound: {text}"
    );
    assert_eq!(
        text.lines().nth(1),
        Some("cpu0"),
        "{runtime}: the CPU directory lists CPU 0 alone: {text}"
    );
    check_script_output(&text);
}

/// `vproc upgrade MOUNTPOINT`, which must succeed.
pub fn upgrade(mnt: &Path) {
    let out = Command::new(vproc_bin())
        .arg("upgrade")
        .arg(mnt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first field of an uptime (or loadavg) line as a number.
pub fn first_number(text: &str) -> f64 {
    text.split(' ').next().unwrap().trim().parse().unwrap()
}

/// The absolute cgroup path an engine's `--cgroup-parent` goes under: this test's memory
/// cgroup on v1 (the other hierarchies' is their root here), its one cgroup on v2.
pub fn engine_parent_base() -> String {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let key = if on_v2() { "0::" } else { ":memory:" };
    let path = own
        .lines()
        .find_map(|l| l.split_once(key).map(|(_, p)| p.to_owned()))
        .unwrap_or("/".into());
    path.trim_end_matches('/').to_owned()
}

/// Cgroup directories an engine creates along an absolute parent path in every v1 hierarchy
/// (in the one tree on v2); on drop, the ones that did not exist before are removed (deepest
/// first, only when empty).
pub struct Litter {
    created: Vec<PathBuf>,
}

impl Litter {
    pub fn before(parent: &str) -> Litter {
        let mut levels = Vec::new();
        let mut p = PathBuf::from("/");
        for part in Path::new(parent).components().skip(1) {
            p.push(part);
            levels.push(p.clone());
        }
        let mut created = Vec::new();
        let roots: Vec<PathBuf> = if on_v2() {
            vec![PathBuf::from("/sys/fs/cgroup")]
        } else {
            std::fs::read_dir("/sys/fs/cgroup")
                .unwrap()
                .flatten()
                .map(|h| h.path())
                .collect()
        };
        for h in roots {
            for l in &levels {
                let d = h.join(l.strip_prefix("/").unwrap());
                if !d.exists() {
                    created.push(d);
                }
            }
        }
        Litter { created }
    }
}

impl Drop for Litter {
    fn drop(&mut self) {
        // The engine's own sub-cgroups (conmon, libpod-*, container ids) below a level we own
        // go first, deepest first; a conmon that is still exiting holds its cgroup a moment.
        for d in self.created.iter().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                remove_tree(d);
                if !d.exists() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Removes a cgroup directory and the cgroups below it, deepest first (each only if empty).
fn remove_tree(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten().filter(|e| e.path().is_dir()) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(d);
}

/// A Docker engine of this test's own (`dockerd` from Debian's docker.io), with its data,
/// exec root and socket in a temp dir and its containers under a `vproc-test-docker-*` cgroup
/// parent below this test's memory cgroup. On drop: every container removed, the engine
/// stopped, its mounts detached, the cgroup levels it created removed.
pub struct Docker {
    child: Child,
    dir: tempfile::TempDir,
    /// The engine's socket, for `docker -H`.
    pub host: String,
    /// The cgroup parent to give every container.
    pub parent: String,
    _litter: Litter,
}

impl Docker {
    /// Starts an engine, or skips (`None`) where dockerd is not installed.
    pub fn start() -> Option<Docker> {
        let have = Command::new("dockerd")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            skip("dockerd is not installed (apt-get install docker.io)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("vproc-test-docker-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let host = format!("unix://{}/docker.sock", d.display());
        static ENGINES: AtomicU32 = AtomicU32::new(0);
        let parent = format!(
            "{}/vproc-test-engine-{}-{}",
            engine_parent_base(),
            std::process::id(),
            ENGINES.fetch_add(1, Ordering::Relaxed)
        );
        let litter = Litter::before(&parent);
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args([
                "--host",
                &host,
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            // Every container, the installer's and `docker build`'s too, under this test's
            // parent.
            .args(["--cgroup-parent", &parent])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let docker = Docker {
            child,
            host,
            _litter: litter,
            parent,
            dir,
        };
        wait_for("dockerd", || {
            docker
                .cmd()
                .arg("info")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| ())
        });
        Some(docker)
    }

    /// `docker -H <this engine>`.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("docker");
        c.args(["-H", &self.host]);
        c
    }

    /// Runs `docker ARGS` to success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// This engine's directory (its log is `dockerd.log` there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Ok(o) = self.cmd().args(["ps", "-aq"]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = self.cmd().args(["rm", "-f"]).args(&ids).output();
            }
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its overlay and namespace mounts, deepest first.
        let prefix = self.dir.path().to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A directory made a shared mount of its own (a bind onto itself), so that mounts made
/// inside it by a container with `rshared` propagation show on the host; detached on drop.
pub struct SharedDir {
    pub dir: tempfile::TempDir,
}

impl SharedDir {
    pub fn new() -> SharedDir {
        let dir = tempfile::Builder::new()
            .prefix("vproc-test-shared-")
            .tempdir()
            .unwrap();
        let p = dir.path();
        nix::mount::mount(
            Some(p),
            p,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        nix::mount::mount(
            None::<&str>,
            p,
            None::<&str>,
            nix::mount::MsFlags::MS_SHARED | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .unwrap();
        SharedDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A shipped unit of `deploy/systemd`, run by `tests/tools/systemd_emulator.py` (its own Exec
/// lines, its fd store limit, KillMode and stop timeout), driven one action at a time. The
/// unit's binaries are this build's; `replace` rewrites other paths in it.
pub struct Unit {
    child: Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    /// The emulator's TMPDIR: its notify socket's directory is made there.
    tmp: tempfile::TempDir,
}

impl Unit {
    pub fn start(unit: &str, replace: &[(&str, &str)]) -> Unit {
        Unit::start_with(unit, replace, &[])
    }

    /// As [`Unit::start`], with `env` added to the emulator's environment (and so the
    /// service's).
    pub fn start_with(unit: &str, replace: &[(&str, &str)], env: &[(&str, &str)]) -> Unit {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cmd = Command::new("python3");
        cmd.arg(root.join("tests/tools/systemd_emulator.py"))
            .arg(root.join("deploy/systemd").join(unit))
            .arg("--replace")
            .arg(format!(
                "/usr/local/bin/vproc-mount={}",
                vproc_mount_bin().display()
            ))
            .arg("--replace")
            .arg(format!("/usr/local/bin/vproc={}", vproc_bin().display()));
        for (from, to) in replace {
            cmd.arg("--replace").arg(format!("{from}={to}"));
        }
        // The emulator caps the unit's start and reload timeouts (90 s by default, as systemd)
        // at 20 s, so that a hang fails fast; under emulation (the VM lane) with the host busy,
        // a reload (`vproc upgrade`: start the new debug binary, then a worker of it) can take
        // longer, so there the unit's own timeouts apply.
        if std::env::var_os("VPROC_LANE").is_some() {
            cmd.args(["--max-timeout", "90"]);
        }
        let tmp = tempfile::Builder::new()
            .prefix("vproc-test-unit")
            .tempdir()
            .unwrap();
        let mut child = cmd
            .envs(env.iter().copied())
            .env("TMPDIR", tmp.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        Unit { child, out, tmp }
    }

    /// Stops the service (the store flushed) and checks the emulator left nothing behind.
    pub fn finish(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "the emulated systemd left {left:?}");
    }

    /// Runs `action` (start, restart, crash, reload, stop, status); its answer.
    pub fn act(&mut self, action: &str) -> String {
        use std::io::{BufRead, Write};
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{action}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(line.starts_with("ok "), "{action}: {line}");
        line
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        // Closing stdin stops the service and flushes the store.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Whether the kernel has `FUSE_NOTIFY_RESEND` (Linux 6.9): then a crashed process's requests
/// are queued again; before, they fail with ECONNABORTED. `VPROC_NO_RESEND` (inherited by the
/// daemons the test starts) makes any kernel behave like an older one.
pub fn fuse_resend_supported() -> bool {
    if std::env::var_os(vproc::fs::supervisor::NO_RESEND_ENV).is_some() {
        return false;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 9)
}
