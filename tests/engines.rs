//! vproc under real container engines from Debian's packages: the OCI hook
//! (`vproc-mount oci-hook`, createContainer stage) with runc and crun running a bundle whose
//! config carries the hook, and podman with the shipped hooks.d file and the annotation.

mod common;

use common::{rootfs, Daemon, Litter, SCRIPT};
use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn helper() -> PathBuf {
    common::vproc_mount_bin()
}

#[test]
fn runc_runs_the_hook() {
    require_real_cgroups!();
    if !have("runc") || rootfs(tempfile::tempdir().unwrap().path()).is_none() {
        common::skip("runc or busybox is not installed (apt-get install runc busybox-static)");
        return;
    }
    common::run_bundle("runc", &[]);
}

/// crun 1.8 refuses hybrid hosts whose cgroup2 mount lists any controller ("cgroups in hybrid
/// mode not supported"), as this dev machine's does (hugetlb), even without a cgroup manager.
fn crun_refuses_this_host() -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .is_ok_and(|c| !c.trim().is_empty())
}

#[test]
fn crun_runs_the_hook() {
    require_real_cgroups!();
    if !have("crun") || rootfs(tempfile::tempdir().unwrap().path()).is_none() {
        common::skip("crun or busybox is not installed (apt-get install crun busybox-static)");
        return;
    }
    if crun_refuses_this_host() {
        common::not_here(
            "crun refuses hybrid hosts with a cgroup2 controller; the VM lane runs it",
        );
        return;
    }
    common::run_bundle("crun", &[]);
}

#[test]
fn hook_refuses_without_a_daemon_unless_optional() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rootfs/proc")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"root": {"path": "rootfs"}, "mounts": []}"#,
    )
    .unwrap();
    let state = format!(
        r#"{{"ociVersion": "1.0.2", "id": "x", "status": "creating", "pid": 1, "bundle": "{}"}}"#,
        dir.path().display()
    );
    let run = |extra: &[&str]| {
        let mut c = Command::new(helper())
            .args(["oci-hook", "--source", "/nonexistent/vproc"])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(state.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let strict = run(&[]);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(run(&["--optional"]).status.success());
    assert!(
        !dir.path().join("rootfs/proc/meminfo").exists(),
        "nothing created"
    );
}

/// podman with the shipped hooks.d file pointed at this build and a daemon, its containers
/// under this test's cgroups; `None` when podman or busybox is missing.
struct Podman {
    dir: tempfile::TempDir,
    d: Daemon,
    parent: String,
    name: String,
    _litter: Litter,
}

impl Podman {
    fn new(tag: &str) -> Option<Podman> {
        let dir = tempfile::Builder::new()
            .prefix("vproc-test-podman")
            .tempdir()
            .unwrap();
        if !have("podman") || rootfs(dir.path()).is_none() {
            common::skip(
                "podman or busybox is not installed (apt-get install podman busybox-static)",
            );
            return None;
        }
        let d = Daemon::start(&[]);
        let hooks = dir.path().join("hooks.d");
        std::fs::create_dir(&hooks).unwrap();
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/oci-hooks.d/vproc.json"
        ))
        .unwrap();
        let hook = shipped
            .replace(
                "/usr/local/bin/vproc-mount",
                &helper().display().to_string(),
            )
            .replace("/var/lib/vproc", &d.mnt.display().to_string());
        std::fs::write(hooks.join("vproc.json"), hook).unwrap();
        let name = format!("vproc-test-podman-{tag}-{}", std::process::id());
        // podman's cgroupfs manager takes one absolute parent for every hierarchy: under this
        // test's memory cgroup on v1, which lies under its own cgroup in the others (their
        // root); under its cgroup on v2.
        // The levels it creates on the way are removed afterwards.
        let parent = format!("{}/{name}", common::engine_parent_base());
        let litter = Litter::before(&parent);
        Some(Podman {
            dir,
            d,
            parent,
            name,
            _litter: litter,
        })
    }

    /// `podman SUBCOMMAND` with this test's storage.
    fn cmd(&self, sub: &str) -> Command {
        let store = self.dir.path().join("storage");
        let mut c = Command::new("podman");
        c.args(["--cgroup-manager", "cgroupfs", "--root"])
            .arg(store.join("root"))
            .arg("--runroot")
            .arg(store.join("run"))
            .arg(sub);
        c
    }

    /// `podman run` of a 256 MiB, CPU 0 container (`extra` before the rootfs).
    fn run(&self, extra: &[&str], command: &[&str]) -> std::process::Output {
        self.cmd("run")
            // runc: crun 1.8 refuses this hybrid host (see crun_runs_the_hook). The limits:
            // this host's hard limits are below podman's defaults, which it may not raise.
            .args([
                "--runtime",
                "runc",
                "--name",
                &self.name,
                "--network",
                "none",
            ])
            .arg("--hooks-dir")
            .arg(self.dir.path().join("hooks.d"))
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "--memory",
                "256m",
                "--cpuset-cpus",
                "0",
                "--cgroup-parent",
                &self.parent,
            ])
            .args(extra)
            .arg("--rootfs")
            .arg(self.dir.path().join("rootfs"))
            .args(command)
            .output()
            .unwrap()
    }
}

/// Whether a process's command line names a path under `dir` (podman, conmon and their
/// cleanup processes for one test's storage).
fn a_process_names(dir: &Path) -> bool {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd("rm")
            .args(["--force", "--time", "0", &self.name])
            .output();
        // podman's overlay driver can leave its storage mounted (`storage/root/overlay`), and
        // a mounted directory is not removed with the rest. conmon starts `podman container
        // cleanup` when a container exits, on its own: one still running would mount the
        // storage again after this, so wait for every process on this storage first.
        let dir = self.dir.path().to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while a_process_names(&dir) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut under: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(PathBuf::from)
            .filter(|m| m.starts_with(&dir))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in under {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn podman_with_the_hooks_dir_and_annotation() {
    require_real_cgroups!();
    let Some(p) = Podman::new("hook") else { return };
    let out = p.run(
        &["--rm", "--annotation", "io.vproc.enable=true"],
        &["sh", "-c", SCRIPT],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "podman: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::check_script_output(&text);
    let _ = &p.d;
}

/// `podman exec` makes processes whose parent is outside the container: they see the
/// container's age and limits, and do not change what the container's own pid 1 sees. The
/// whole mount is bound with `-v` and read by path, so every read finds its reader's
/// container, and the exec'd readers are the container's first.
#[test]
fn podman_exec_sees_the_containers_age_and_leaves_pid_1_alone() {
    require_real_cgroups!();
    let Some(p) = Podman::new("exec") else { return };
    let bind = format!("{}:/vproc", p.d.mnt.display());
    // The view's uptime, then the kernel's uptime and pid 1's start time, read together: the
    // container's age by the kernel's own clock, however slow the machine (under emulation
    // podman returns seconds after the container started).
    const AGE: &str = "read v _ < /vproc/proc/uptime; read u _ < /proc/uptime; \
        s=$(busybox cut -d' ' -f22 /proc/1/stat); echo $v $u $s";
    // pid 1 reads once told to, after the exec'd readers.
    let init =
        format!("while [ ! -e /tmp/go ]; do sleep 0.1; done; {AGE} > /tmp/init-age; sleep 60");
    let out = p.run(&["--detach", "-v", &bind], &["sh", "-c", &init]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The exec'd readers come at least this long after the container started, so a view
    // judged by one of them is off by at least as much.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // A reader that stays: were its container judged by it, pid 1 would later see its age.
    let out = p
        .cmd("exec")
        .args(["--detach", &p.name, "sh", "-c"])
        .arg(format!("{AGE} > /tmp/exec-age; exec sleep 60"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = p
        .cmd("exec")
        .args([&p.name, "sh", "-c"])
        .arg(format!("{AGE}; head -1 /vproc/proc/meminfo"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("MemTotal:         262144 kB"), "{text}");
    let read = |file: &str| {
        common::wait_for(file, || {
            let o = p.cmd("exec").args([&p.name, "cat", file]).output().ok()?;
            let t = String::from_utf8_lossy(&o.stdout).into_owned();
            (o.status.success() && !t.is_empty()).then_some(t)
        })
    };
    let tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let check = |who: &str, line: &str| {
        let n: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        let (view, kernel) = (n[0], n[1] - n[2] / tck);
        assert!(
            (view - kernel).abs() <= 1.0 && view >= 1.0,
            "{who} saw uptime {view}, the container is {kernel:.2} s old: {line}"
        );
    };
    check("an exec'd reader", text.lines().next().unwrap());
    check("a detached exec'd reader", &read("/tmp/exec-age"));
    let out = p
        .cmd("exec")
        .args([&p.name, "sh", "-c", ": > /tmp/go"])
        .output()
        .unwrap();
    assert!(out.status.success());
    check("pid 1", &read("/tmp/init-age"));
}

#[test]
fn hook_leaves_files_the_config_mounts() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-hook")
        .tempdir()
        .unwrap();
    let proc_dir = dir.path().join("rootfs/proc");
    std::fs::create_dir_all(&proc_dir).unwrap();
    for f in ["meminfo", "cpuinfo"] {
        std::fs::write(proc_dir.join(f), "original\n").unwrap();
    }
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"root": {"path": "rootfs"}, "mounts": [{"destination": "/proc/meminfo", "type": "bind", "source": "/somewhere"}]}"#,
    )
    .unwrap();
    let state = format!(
        r#"{{"ociVersion": "1.0.2", "id": "x", "status": "creating", "pid": 1, "bundle": "{}"}}"#,
        dir.path().display()
    );
    let mut c = Command::new(helper())
        .args(["oci-hook", "--source"])
        .arg(&d.mnt)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(state.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
    // This test ran the hook in its own mount namespace: undo the bind on the way out.
    let cpuinfo = proc_dir.join("cpuinfo");
    let bound = std::fs::read_to_string(&cpuinfo).unwrap();
    let _ = nix::mount::umount2(&cpuinfo, nix::mount::MntFlags::MNT_DETACH);
    assert!(bound.starts_with("processor"), "cpuinfo gets the view");
    assert_eq!(
        std::fs::read_to_string(proc_dir.join("meminfo")).unwrap(),
        "original\n",
        "the config's own mount is left alone"
    );
}

/// `vproc sysinfo-agent` as runc's and podman's seccomp agent: the profile from `vproc-mount
/// seccomp` (merged into podman's default one for podman) sends the container's sysinfo(2)
/// calls to it, and busybox `free` shows the container's memory.
#[test]
fn the_sysinfo_agent_answers_runc_and_podman_containers() {
    require_real_cgroups!();
    let Some(dir) = runc_workdir() else {
        return;
    };
    let socket = dir.path().join("sysinfo.sock");
    let _agent = common::Proc::spawn(
        Command::new(common::vproc_bin())
            .arg("sysinfo-agent")
            .arg("--socket")
            .arg(&socket)
            .args(["--log-level", "warn"]),
    );
    common::wait_for("the agent", || socket.exists().then_some(()));
    let profile = |merge: Option<&str>| -> serde_json::Value {
        let mut c = Command::new(helper());
        c.arg("seccomp").arg("--listener").arg(&socket);
        if let Some(m) = merge {
            c.args(["--merge", m]);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let free = "busybox free | awk '/Mem:/{print $2, $3 < $2}'";

    // runc: the OCI config's linux.seccomp.
    let d = Daemon::start(&[]);
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let b = common::bundle("runc", &bundle, &d.mnt);
    let path = b.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["args"] = serde_json::json!(["sh", "-c", free]);
    c["linux"]["seccomp"] = profile(None);
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    let id = format!("vproc-test-seccomp-{}", std::process::id());
    let out = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&b)
        .arg(&id)
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .args(["delete", "--force", &id])
        .output();
    assert!(
        out.status.success(),
        "runc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Total the container's, and used below it (not wrapped).
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "262144 1");

    // podman: its own default profile, with sysinfo merged in.
    let default = Path::new("/usr/share/containers/seccomp.json");
    let Some(p) = default.exists().then(|| Podman::new("seccomp")).flatten() else {
        return;
    };
    let merged = dir.path().join("podman-seccomp.json");
    std::fs::write(
        &merged,
        serde_json::to_vec(&profile(Some(default.to_str().unwrap()))).unwrap(),
    )
    .unwrap();
    let opt = format!("seccomp={}", merged.display());
    // With the views too (the annotation): busybox `free` takes buff/cache from
    // /proc/meminfo, which must be the container's as well.
    let out = p.run(
        &[
            "--rm",
            "--security-opt",
            &opt,
            "--annotation",
            "io.vproc.enable=true",
        ],
        &["sh", "-c", "busybox free | awk '/Mem:/{print $2, $3 < $2}'"],
    );
    assert!(
        out.status.success(),
        "podman: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "262144 1");
}

/// A runc container removed on every path.
struct RuncContainer(String);

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.0])
            .output();
    }
}

/// A scratch directory with a busybox rootfs for runc, or `None` (skipped) without them.
fn runc_workdir() -> Option<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-seccomp")
        .tempdir()
        .unwrap();
    if !have("runc") || rootfs(dir.path()).is_none() {
        common::skip("runc or busybox is not installed (apt-get install runc busybox-static)");
        return None;
    }
    Some(dir)
}

/// The agent's shipped unit, restarted and crashed under a running container: the listener
/// comes back from the fd store, and the container's `sysinfo` calls after each are answered
/// with its own figures (a lost listener would make them fail with ENOSYS).
#[test]
fn the_sysinfo_agent_restarts_under_running_containers() {
    require_real_cgroups!();
    let Some(dir) = runc_workdir() else {
        return;
    };
    let socket = dir.path().join("sysinfo.sock");
    let mut unit = common::Unit::start(
        "vproc-sysinfo.service",
        &[("/run/vproc/sysinfo.sock", socket.to_str().unwrap())],
    );
    unit.act("start");
    let d = Daemon::start(&[]);
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let b = common::bundle("runc", &bundle, &d.mnt);
    let path = b.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Answers each /shared/ask.N with /shared/answer.N: what busybox free (sysinfo) says, or
    // why it could not.
    let script = "n=0; while :; do if [ -e /shared/ask.$n ]; then \
        busybox free 2>&1 | awk '/Mem:/{print $2} /rror/{print}' > /shared/tmp; \
        mv /shared/tmp /shared/answer.$n; n=$((n+1)); fi; sleep 0.05; done";
    c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    c["linux"]["seccomp"] = vproc_mount::seccomp::merge(None, socket.to_str().unwrap()).unwrap();
    c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"],
    }));
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    let id = format!("vproc-test-seccomp-restart-{}", std::process::id());
    // Detached without a terminal, the container keeps runc's stdio: a file, not a pipe that
    // would never reach its end.
    let log = dir.path().join("runc.log");
    let status = Command::new("runc")
        .args(["run", "--detach", "--bundle"])
        .arg(&b)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    let _container = RuncContainer(id);
    assert!(
        status.success(),
        "runc: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let ask = |n: u32| -> String {
        std::fs::write(shared.join(format!("ask.{n}")), "").unwrap();
        let answer = shared.join(format!("answer.{n}"));
        common::wait_for("the container's answer", || {
            std::fs::read_to_string(&answer).ok()
        })
    };
    assert_eq!(ask(0).trim(), "262144");
    // The listener is in the store under the container's name.
    let status = unit.act("status");
    assert!(status.contains("stored=sysinfo-"), "{status}");
    for (n, action) in [(1, "restart"), (2, "crash"), (3, "restart")] {
        unit.act(action);
        assert_eq!(ask(n).trim(), "262144", "after {action}");
    }
    unit.finish();
}
