//! vproc with a real Docker engine (Debian's docker.io, started by the test): the image built
//! by `deploy/image/build.sh` from a locally made base, run as the DaemonSet runs it (host pid
//! namespace, the host's cgroups, a shared mount); the views checked on the host and inside
//! containers started with `docker run -v` lines and a memory and CPU limit; the installer
//! step; a rolling update (a second daemon container taking over); and the refusal to serve
//! with a partial view of the cgroups.
//!
//! The v2-host VM lane runs the `docker_run_with*` tests (dockerd starts there, on cgroup v2);
//! not the two that build the image: they compile vproc statically, which under emulation
//! takes longer than the lane has.

mod common;

use common::{line, run_in, wait_for, Daemon, Docker, SharedDir, TestCgroup};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The image, built with this engine from a busybox base imported from the host: (base,
/// image).
fn build_image(docker: &Docker) -> (String, String) {
    let run = |script: &str, args: &[&str]| {
        let o = Command::new(root().join(script))
            .args(args)
            .env("DOCKER_HOST", &docker.host)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let base = run("deploy/image/local-base.sh", &[]);
    let target = root().join("target/static");
    let tag = run(
        "deploy/image/build.sh",
        &["--base", &base, "--target-dir", target.to_str().unwrap()],
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(tag, format!("ghcr.io/vproc/vproc:{version}"));
    (base, tag)
}

/// `docker run -d` of the daemon as the DaemonSet runs it; the container's name.
fn start_daemon(docker: &Docker, image: &str, shared: &Path, name: &str, extra: &[&str]) -> String {
    let mnt = format!("{}:/var/lib/vproc:rshared", shared.join("mnt").display());
    let run = format!("{}:/run/vproc", shared.join("run").display());
    // What `privileged: true` gives in a pod, short of CAP_SYS_RESOURCE, which this
    // machine's bounding set lacks (Docker refuses --privileged here for that).
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--cap-add",
        "ALL",
        "--cap-drop",
        "SYS_RESOURCE",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "seccomp=unconfined",
        "--device",
        "/dev/fuse",
        "--pid",
        "host",
        "--cgroupns",
        "host",
        "--cgroup-parent",
        &docker.parent,
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "-v",
        &mnt,
        "-v",
        &run,
        image,
        "serve",
        "/var/lib/vproc",
        "--log-level",
        "info",
    ];
    args.extend(extra);
    docker.ok(&args);
    name.to_owned()
}

fn supervisor_in(shared: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(shared.join("run/serve/_var_lib_vproc.status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("supervisor "))?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

#[test]
fn the_image_serves_containers_and_takes_over_in_a_rolling_update() {
    require_real_cgroups!();
    let Some(docker) = Docker::start() else {
        return;
    };
    require!(
        Path::new("/bin/busybox").exists(),
        "busybox-static is not installed (apt-get install busybox-static)"
    );
    let (base, image) = build_image(&docker);
    let shared = SharedDir::new();
    let s = shared.path();
    std::fs::create_dir_all(s.join("mnt")).unwrap();
    std::fs::create_dir_all(s.join("run")).unwrap();
    let _guard = common::MountGuard(s.join("mnt"));
    let first = start_daemon(&docker, &image, s, "vproc-a", &[]);
    let mnt = s.join("mnt");
    wait_for("the views from the container", || {
        mnt.join("proc/meminfo").exists().then_some(())
    });
    // A host process with limits.
    let cg = TestCgroup::new("docker").with_standard_limits();
    let m = run_in(&cg, &format!("cat {}/proc/meminfo", mnt.display()));
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");

    // A container with the `docker run -v` lines vproc-mount prints, and limits.
    let printed = Command::new(common::vproc_mount_bin())
        .args([
            "print",
            "--format",
            "docker",
            "--source",
            mnt.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let binds: Vec<String> = String::from_utf8(printed.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|w| w.contains(":/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        binds.len(),
        vproc_mount::engine_bindable().count(),
        "{binds:?}"
    );
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "app",
        "--cgroup-parent",
        &docker.parent,
    ];
    args.extend(["-m", "256m", "--cpus", "0.5"]);
    for b in &binds {
        args.extend(["-v", b.as_str()]);
    }
    args.extend([base.as_str(), "sleep", "1000"]);
    docker.ok(&args);
    let inside = docker.ok(&[
        "exec",
        "app",
        "sh",
        "-c",
        "head -1 /proc/meminfo; cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo",
    ]);
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines, ["MemTotal:         262144 kB", "0", "1"], "{inside}");

    // The installer step: vproc-mount and the hooks.d file onto the host.
    let host = tempfile::tempdir().unwrap();
    let dest = format!("{}:/host", host.path().display());
    docker.ok(&[
        "run",
        "--rm",
        "-v",
        &dest,
        "--entrypoint",
        "/usr/share/vproc/deploy/install.sh",
        &image,
        "--destdir",
        "/host",
        "--no-systemd",
        "--bin-dir",
        "/usr/local/bin",
    ]);
    let helper = host.path().join("usr/local/bin/vproc-mount");
    let o = Command::new(&helper).arg("--version").output().unwrap();
    assert!(o.status.success(), "the installed helper runs on the host");
    let hook = std::fs::read_to_string(
        host.path()
            .join("usr/share/containers/oci/hooks.d/vproc.json"),
    )
    .unwrap();
    assert!(hook.contains("\"/usr/local/bin/vproc-mount\""), "{hook}");

    // A rolling update: a second daemon takes over while a reader reads; the first, stopped,
    // leaves the mount to it.
    let before = supervisor_in(s).unwrap();
    let reader = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{}n=0; bad=0; while [ $n -lt 3000 ]; do head -1 {m}/proc/meminfo | grep -q ' 262144 kB' || bad=$((bad+1)); n=$((n+1)); done; echo $bad",
            cg.join_script(),
            m = mnt.display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    start_daemon(&docker, &image, s, "vproc-b", &["--take-over"]);
    wait_for("the second daemon to serve", || {
        supervisor_in(s).filter(|&p| p != before)
    });
    docker.ok(&["stop", &first]);
    let code = docker.ok(&["inspect", "-f", "{{.State.ExitCode}}", &first]);
    assert_eq!(code.trim(), "0");
    let out = reader.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "failed reads"
    );
    let m = run_in(&cg, &format!("cat {}/proc/meminfo", mnt.display()));
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
    assert_eq!(
        docker
            .ok(&["exec", "app", "head", "-1", "/proc/meminfo"])
            .trim(),
        "MemTotal:         262144 kB"
    );
    // The last daemon stopping unmounts (a clean uninstall).
    docker.ok(&["stop", "vproc-b"]);
    wait_for("the unmount", || (!common::is_mounted(&mnt)).then_some(()));
}

/// Where the engine binds the container's own cgroup at /sys/fs/cgroup (no host cgroups
/// mounted), the daemon refuses to start instead of serving host values to everyone.
#[test]
fn the_daemon_refuses_a_partial_view_of_the_cgroups() {
    require_real_cgroups!();
    let Some(docker) = Docker::start() else {
        return;
    };
    let shared = SharedDir::new();
    let s = shared.path();
    std::fs::create_dir_all(s.join("mnt")).unwrap();
    let _guard = common::MountGuard(s.join("mnt"));
    let (_, image) = build_image(&docker);
    let o = docker
        .cmd()
        .args([
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "--cap-add",
            "SYS_PTRACE",
            "--device",
            "/dev/fuse",
        ])
        .args(["--security-opt", "apparmor=unconfined", "--pid", "host"])
        .args(["--cgroup-parent", &docker.parent, "-v"])
        .arg(format!("{}:/var/lib/vproc", s.join("mnt").display()))
        .args([&image, "serve", "/var/lib/vproc"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sees only part of the cgroup hierarchy"),
        "{err}"
    );
    assert!(err.contains("-v /sys/fs/cgroup:/sys/fs/cgroup:ro"), "{err}");
    assert!(!common::is_mounted(&s.join("mnt")));
}

/// A daemon on the host and a Docker container given the views with `-v`: the container's
/// own limits, its age for a process entering it with `docker exec`.
#[test]
fn docker_run_with_views_bound_from_a_host_daemon() {
    require_real_cgroups!();
    let Some(docker) = Docker::start() else {
        return;
    };
    let d = Daemon::start(&[]);
    let base = Command::new(root().join("deploy/image/local-base.sh"))
        .env("DOCKER_HOST", &docker.host)
        .output()
        .unwrap();
    assert!(
        base.status.success(),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let base = String::from_utf8(base.stdout).unwrap().trim().to_owned();
    let mnt = d.mnt.display().to_string();
    let mut args: Vec<String> = [
        "run",
        "-d",
        "--name",
        "app",
        "--cgroup-parent",
        &docker.parent,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["-m", "192m", "--cpuset-cpus", "1"].map(String::from));
    for v in [
        "proc/meminfo",
        "proc/uptime",
        "proc/cpuinfo",
        "sys/devices/system/cpu/online",
    ] {
        args.push("-v".into());
        args.push(format!("{mnt}/{v}:/{v}:ro"));
    }
    args.extend([base, "sleep".into(), "1000".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker.ok(&refs);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = docker.ok(&[
        "exec",
        "app",
        "sh",
        "-c",
        "head -1 /proc/meminfo; cat /sys/devices/system/cpu/online; cat /proc/uptime",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["MemTotal:         196608 kB", "1"], "{out}");
    let age = common::first_number(lines[2]);
    assert!((1.0..60.0).contains(&age), "docker exec saw uptime {age}");
    // A container's first read, at once: the runtime writes the limits after making the
    // mounts (whose lookups render the views), so renderings of a starting container must
    // not be reused (a JVM reads /proc/meminfo first thing).
    let bind = format!("{mnt}/proc/meminfo:/proc/meminfo:ro");
    for _ in 0..3 {
        let out = docker.ok(&[
            "run",
            "--rm",
            "--cgroup-parent",
            &docker.parent,
            "-m",
            "160m",
            "-v",
            &bind,
            "vproc-base:busybox",
            "head",
            "-1",
            "/proc/meminfo",
        ]);
        assert_eq!(out.trim(), "MemTotal:         163840 kB");
    }
}

/// An image whose userland is the host's own (`/usr` is bound in at run time: procps, glibc's
/// getconf, Java, busybox), imported from a tarball of the merged-/usr links; its name.
fn host_userland_image(docker: &Docker) -> String {
    let name = "vproc-test-usr:latest";
    let root = tempfile::tempdir().unwrap();
    for d in ["proc", "sys", "dev", "etc", "tmp", "run", "usr"] {
        std::fs::create_dir_all(root.path().join(d)).unwrap();
    }
    for l in ["bin", "sbin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), root.path().join(l)).unwrap();
    }
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut import = docker
        .cmd()
        .args(["import", "-", name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    import.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    assert!(import.wait().unwrap().success());
    name.to_owned()
}

/// What a user gets from `docker run --memory 256m --cpus 0.5 --cpuset-cpus 0` with the lines
/// `vproc-mount print --format docker` prints: procps `free` and `top`, `nproc`, `getconf`,
/// Java and busybox see the limits; so do they after `docker restart` and in `docker exec`;
/// and a reader that keeps reading while the daemon is upgraded twice loses no read.
#[test]
fn docker_run_with_the_printed_flags_sees_the_limits() {
    require_real_cgroups!();
    let Some(docker) = Docker::start() else {
        return;
    };
    let d = Daemon::start(&[]);
    let printed = Command::new(common::vproc_mount_bin())
        .args(["print", "--format", "docker", "--source"])
        .arg(&d.mnt)
        .output()
        .unwrap();
    assert!(printed.status.success());
    let flags: Vec<String> = String::from_utf8(printed.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(str::to_owned)
        .collect();
    assert!(flags.len() >= 2 * 8, "{flags:?}");
    let image = host_userland_image(&docker);
    let java = std::fs::canonicalize("/usr/bin/java").ok();
    let mut args: Vec<String> = ["run", "-d", "--name", "app", "--cgroup-parent"]
        .map(String::from)
        .to_vec();
    args.push(docker.parent.clone());
    args.extend(
        [
            "--memory",
            "256m",
            "--cpus",
            "0.5",
            "--cpuset-cpus",
            "0",
            "-v",
            "/usr:/usr:ro",
        ]
        .map(String::from),
    );
    for conf in std::fs::read_dir("/etc").unwrap().flatten() {
        if conf.file_name().to_string_lossy().starts_with("java-") {
            let p = conf.path().display().to_string();
            args.extend(["-v".into(), format!("{p}:{p}:ro")]);
        }
    }
    args.extend(flags);
    args.extend([image, "sleep".into(), "1000".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker.ok(&refs);

    let check = |when: &str| {
        let script = "free -b | grep Mem:; top -bn1 | grep 'Mem :'; nproc; \
            getconf _NPROCESSORS_ONLN; busybox cat /proc/meminfo | head -1; \
            busybox top -bn1 | grep '^Mem:'; getconf _NPROCESSORS_CONF; \
            ls /sys/devices/system/cpu | grep -c '^cpu[0-9]'; lscpu -p=CPU | grep -v '^#'";
        let out = docker.ok(&["exec", "app", "sh", "-c", script]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().nth(1),
            Some("268435456"),
            "{when}: free -b: {out}"
        );
        assert!(lines[1].contains(" 256.0 total"), "{when}: top: {out}");
        assert_eq!(
            lines[2..5],
            ["1", "1", "MemTotal:         262144 kB"],
            "{when}: {out}"
        );
        // busybox top: used + free is the container's memory.
        let kb = |w: &str| w.trim_end_matches('K').parse::<u64>().unwrap();
        let words: Vec<&str> = lines[5].split_whitespace().collect();
        assert_eq!(
            kb(words[1]) + kb(words[3]),
            262144,
            "{when}: busybox top: {out}"
        );
        // The CPU directory (bound from the printed flags too): CPU 0 alone, by its host id.
        assert_eq!(lines[6..9], ["1", "1", "0"], "{when}: CPU directory: {out}");
        if let Some(java) = &java {
            let java = java.display().to_string();
            let out = docker.ok(&[
                "exec",
                "app",
                "sh",
                "-c",
                &format!(
                    "{java} -XX:+PrintFlagsFinal -version 2>/dev/null | grep -w MaxHeapSize; \
                     {java} -XshowSettings:system -version 2>&1 | grep 'CPU Count'"
                ),
            ]);
            let heap: u64 = line(&out, "")
                .split_whitespace()
                .nth(3)
                .unwrap()
                .parse()
                .unwrap();
            assert!(heap > 0 && heap <= 128 << 20, "{when}: Java: {out}");
            assert!(
                out.contains("Effective CPU Count: 1"),
                "{when}: Java: {out}"
            );
        } else {
            common::skip("java is not installed: the Java check did not run");
        }
    };
    check("docker run");
    docker.ok(&["restart", "--time", "0", "app"]);
    check("docker restart");

    // A reader in the container for as long as the daemon is upgraded twice.
    let reader = "n=0; bad=0; while [ ! -e /tmp/stop ]; do \
          read -r v < /proc/meminfo || bad=$((bad+1)); \
          [ \"$v\" = 'MemTotal:         262144 kB' ] || bad=$((bad+1)); n=$((n+1)); \
        done; echo $n $bad > /tmp/result";
    docker.ok(&["exec", "-d", "app", "sh", "-c", reader]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    common::upgrade(&d.mnt);
    common::upgrade(&d.mnt);
    std::thread::sleep(std::time::Duration::from_millis(500));
    docker.ok(&["exec", "app", "sh", "-c", ": > /tmp/stop"]);
    let result = wait_for("the reader's count", || {
        let o = docker
            .cmd()
            .args(["exec", "app", "cat", "/tmp/result"])
            .output()
            .ok()?;
        let t = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        (o.status.success() && !t.is_empty()).then_some(t)
    });
    let n: Vec<u64> = result
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    eprintln!("reads across two upgrades, wrong or lost: {result}");
    assert!(n[0] > 0, "the reader read: {result}");
    assert_eq!(n[1], 0, "reads lost or wrong across two upgrades: {result}");
}
