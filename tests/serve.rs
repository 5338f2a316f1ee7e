//! `vproc serve` end to end: a real FUSE mount, real cgroups, real readers (cat, wc, Python,
//! Go, Java), pid namespaces, concurrency, bad input, and a clean stop.

mod common;

use common::{line, run_in, wait_for, Daemon, Proc, TestCgroup};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn limited_cgroup_reads_its_own_values() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("serve").with_standard_limits();
    let mnt = d.mnt.display();
    let m = run_in(&cg, &format!("cat {mnt}/proc/meminfo"));
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
    let cpuinfo = run_in(&cg, &format!("cat {mnt}/proc/cpuinfo"));
    assert_eq!(cpuinfo.matches("processor\t:").count(), 1);
    assert_eq!(
        run_in(&cg, &format!("cat {mnt}/sys/devices/system/cpu/online")),
        "0\n"
    );
    let stat = run_in(&cg, &format!("cat {mnt}/proc/stat"));
    assert_eq!(stat.lines().filter(|l| l.starts_with("cpu")).count(), 2);
    assert!(stat.contains("\ncpu0 "));
    // The host's own view is untouched for a reader outside any limit.
    let host = std::fs::read_to_string(d.path("proc/meminfo")).unwrap();
    assert_ne!(line(&host, "MemTotal:"), "MemTotal:         262144 kB");
}

/// Docker and podman on cgroup v2 and Kubernetes pods give a daemon its own cgroup namespace,
/// where every reader's `/proc/<pid>/cgroup` reads relative to the daemon's cgroup: it joins
/// the host's and serves the right values anyway.
#[test]
fn daemon_started_in_a_private_cgroup_namespace_still_sees_limits() {
    require_real_cgroups!();
    let outer = TestCgroup::new("cgns");
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    // The daemon's namespace is rooted at a test cgroup, as a container's would be.
    let script = format!(
        "{} exec unshare --cgroup \"$0\" \"$@\"",
        outer.join_script()
    );
    let d = Daemon::start_wrapped(dir, mnt, &["sh", "-c", &script], &[]);
    let cg = TestCgroup::new("cgns-reader").with_standard_limits();
    let m = run_in(&cg, &format!("cat {}/proc/meminfo", d.mnt.display()));
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
    let own = std::fs::metadata(format!("/proc/{}/ns/cgroup", d.pid())).unwrap();
    let host = std::fs::metadata("/proc/self/ns/cgroup").unwrap();
    assert_eq!(
        own.ino(),
        host.ino(),
        "the daemon joined the host's namespace"
    );
}

#[test]
fn fresh_pid_namespace_has_a_young_uptime() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("uptime").with_standard_limits();
    let out = run_in(
        &cg,
        &format!("unshare --fork --pid cat {}/proc/uptime", d.mnt.display()),
    );
    let up = common::first_number(&out);
    assert!(up < 2.0, "uptime {out}");
    let host = common::first_number(&std::fs::read_to_string("/proc/uptime").unwrap());
    assert!(host > 2.0);
}

#[test]
fn two_containers_reading_at_once_each_see_their_own() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let a = TestCgroup::new("two-a");
    a.set("memory", "memory.limit_in_bytes", &(300 << 20).to_string());
    let b = TestCgroup::new("two-b");
    b.set("memory", "memory.limit_in_bytes", &(400 << 20).to_string());
    let script = format!(
        "for i in $(seq 200); do grep MemTotal {}/proc/meminfo; done | sort | uniq -c",
        d.mnt.display()
    );
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| run_in(&a, &script));
        let tb = s.spawn(|| run_in(&b, &script));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(ra.trim(), "200 MemTotal:         307200 kB");
    assert_eq!(rb.trim(), "200 MemTotal:         409600 kB");
}

#[test]
fn many_readers_in_many_cgroups_never_see_a_wrong_value() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cgs: Vec<TestCgroup> = (0..8)
        .map(|i| {
            let cg = TestCgroup::new("many");
            cg.set(
                "memory",
                "memory.limit_in_bytes",
                &((256 + 16 * i) << 20).to_string(),
            );
            cg
        })
        .collect();
    // 4 readers per cgroup, each reading for 3 s and checking every read.
    let reader = r#"
import sys, time
path, want = sys.argv[1], sys.argv[2]
n = bad = 0
end = time.time() + 3
while time.time() < end:
    with open(path) as f:
        total = next(l for l in f.read().splitlines() if l.startswith("MemTotal:")).split()[1]
    n += 1
    bad += total != want
print(n, bad)
"#;
    let mut procs = Vec::new();
    for (i, cg) in cgs.iter().enumerate() {
        let want = ((256 + 16 * i) * 1024).to_string();
        for _ in 0..4 {
            let script = format!(
                "{}exec python3 -c '{reader}' {}/proc/meminfo {want}",
                cg.join_script(),
                d.mnt.display()
            );
            procs.push(
                Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
    }
    let mut total = 0;
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success());
        let s = String::from_utf8(out.stdout).unwrap();
        let mut it = s.split_whitespace().map(|v| v.parse::<u64>().unwrap());
        let (n, bad) = (it.next().unwrap(), it.next().unwrap());
        assert_eq!(bad, 0, "{n} reads, {bad} wrong");
        total += n;
    }
    assert!(total > 32, "{total} reads");
}

#[test]
fn every_reader_gets_the_whole_file() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("readers").with_standard_limits();
    let f = d.path("proc/cpuinfo");
    let f = f.display();
    let cat = run_in(&cg, &format!("cat {f}"));
    assert!(
        cat.starts_with("processor\t: 0\n") && cat.ends_with("\n\n"),
        "{cat}"
    );
    let whole = |out: &str, tool: &str| {
        assert_eq!(out.matches("processor\t:").count(), 1, "{tool}: {out}");
        assert!(
            out.contains("\npower management:"),
            "{tool} truncated: {out}"
        );
        assert!(
            out.len().abs_diff(cat.len()) < 8,
            "{tool}: {} vs {} bytes",
            out.len(),
            cat.len()
        );
    };
    let wc: usize = run_in(&cg, &format!("wc -c < {f}")).trim().parse().unwrap();
    assert!(
        wc.abs_diff(cat.len()) < 8,
        "wc -c said {wc}, cat read {}",
        cat.len()
    );
    whole(
        &run_in(
            &cg,
            &format!("python3 -c 'import sys; sys.stdout.write(open(\"{f}\").read())'"),
        ),
        "python",
    );
    whole(
        &run_in(&cg, &format!("dd if={f} bs=1 status=none")),
        "dd bs=1",
    );
    let readers = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/readers");
    if Command::new("go").arg("version").output().is_ok() {
        whole(
            &run_in(
                &cg,
                &format!("cd {readers} && GOCACHE=/tmp/vproc-test-gocache go run read.go {f}"),
            ),
            "go",
        );
    } else {
        common::skip("go is not installed: the Go reader did not run");
    }
    if Command::new("java").arg("-version").output().is_ok() {
        whole(
            &run_in(&cg, &format!("java {readers}/Read.java {f}")),
            "java",
        );
    } else {
        common::skip("java is not installed: the Java reader did not run");
    }
}

#[test]
fn offsets_and_reads_past_the_end_behave_like_procfs() {
    let d = Daemon::start(&[]);
    // swaps is stable between renders, so a re-render on rewind reads the same bytes.
    let script = r#"
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
whole = os.pread(fd, 1 << 16, 0)
assert len(whole) > 20, whole
assert os.pread(fd, 10, 5) == whole[5:15]
assert os.pread(fd, 100, len(whole)) == b""
assert os.pread(fd, 100, len(whole) + 4096) == b""
chunks = b"".join(iter(lambda: os.read(fd, 7), b""))
assert chunks == whole, (len(chunks), len(whole))
os.close(fd)
# A rewind to offset 0 sees new values once the cache TTL (100 ms) has passed, as top does
# with the /proc/stat it keeps open.
fd = os.open(sys.argv[2], os.O_RDONLY)
first = os.pread(fd, 4096, 0)
time.sleep(0.15)
second = os.pread(fd, 4096, 0)
assert first != second, (first, second)
print("ok")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(d.path("proc/swaps"))
        .arg(d.path("proc/uptime"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tree_is_read_only_and_listed_once() {
    let d = Daemon::start(&[]);
    let names = |rel: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d.path(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(""), ["by-pid", "proc", "sys"]);
    assert_eq!(
        names("proc"),
        [
            "cpuinfo",
            "diskstats",
            "loadavg",
            "meminfo",
            "pressure",
            "stat",
            "swaps",
            "uptime",
            "vmstat"
        ]
    );
    assert_eq!(names("proc/pressure"), ["cpu", "io", "memory"]);
    assert_eq!(
        names("sys/devices/system/cpu"),
        ["online", "possible", "present"]
    );
    let ls = Command::new("ls")
        .arg("-a")
        .arg(d.path("proc"))
        .output()
        .unwrap();
    let ls = String::from_utf8(ls.stdout).unwrap();
    assert_eq!(
        ls.lines().filter(|l| *l == "." || *l == "..").count(),
        2,
        "{ls}"
    );
    for rel in ["proc/meminfo", "sys/devices/system/cpu/online"] {
        let m = std::fs::metadata(d.path(rel)).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o444);
        // The exact size of what this reader reads (per-container files are cached whole).
        let len = std::fs::read(d.path(rel)).unwrap().len() as u64;
        assert_eq!((m.uid(), m.gid(), m.len()), (0, 0, len));
        assert!(m.is_file());
    }
    let m = std::fs::metadata(d.path("proc")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o555);
    let erofs = Some(libc::EROFS);
    let meminfo = d.path("proc/meminfo");
    assert_eq!(
        std::fs::write(&meminfo, "x").unwrap_err().raw_os_error(),
        erofs
    );
    assert_eq!(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&meminfo)
            .unwrap_err()
            .raw_os_error(),
        erofs
    );
    assert_eq!(
        std::fs::File::create(d.path("proc/new"))
            .unwrap_err()
            .raw_os_error(),
        erofs
    );
    assert_eq!(
        std::fs::create_dir(d.path("proc/dir"))
            .unwrap_err()
            .raw_os_error(),
        erofs
    );
    assert_eq!(
        std::fs::remove_file(&meminfo).unwrap_err().raw_os_error(),
        erofs
    );
    assert_eq!(
        std::fs::rename(&meminfo, d.path("proc/x"))
            .unwrap_err()
            .raw_os_error(),
        erofs
    );
    assert_eq!(
        std::fs::set_permissions(&meminfo, std::fs::Permissions::from_mode(0o777))
            .unwrap_err()
            .raw_os_error(),
        erofs
    );
    let trunc = Command::new("truncate")
        .arg("-s0")
        .arg(&meminfo)
        .status()
        .unwrap();
    assert!(!trunc.success());
    assert_eq!(
        std::fs::read(d.path("proc/nope"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOENT)
    );
    assert_eq!(
        std::fs::read(d.path("sys/devices/system/cpu/kernel_max"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOENT)
    );
    // Still serving after all of that.
    assert!(std::fs::read_to_string(&meminfo)
        .unwrap()
        .starts_with("MemTotal:"));
}

#[test]
fn new_opens_see_new_values() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("fresh");
    cg.set("memory", "memory.limit_in_bytes", &(256 << 20).to_string());
    let child = Proc::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{}exec sleep 30", cg.join_script())),
    );
    let _ = child;
    let read = || {
        run_in(
            &cg,
            &format!("grep MemTotal {}/proc/meminfo", d.mnt.display()),
        )
    };
    assert_eq!(read().trim(), "MemTotal:         262144 kB");
    cg.set("memory", "memory.limit_in_bytes", &(128 << 20).to_string());
    // Cached values live at most --cache-ms (100 ms by default).
    let got = wait_for("the new limit", || {
        let r = read();
        r.contains("131072").then_some(r)
    });
    assert_eq!(got.trim(), "MemTotal:         131072 kB");
}

#[test]
fn stop_unmounts_and_exits_zero() {
    let mut d = Daemon::start(&[]);
    assert!(d.is_mounted());
    let st = d.stop();
    assert!(st.success(), "{st}");
    assert!(!d.is_mounted());
}

#[test]
fn refuses_a_live_mount_and_clears_a_dead_one() {
    let mut first = Daemon::start(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_vproc"))
        .arg("serve")
        .arg(&first.mnt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already served by a live fuse.vproc mount"),
        "{err}"
    );
    // Kill it hard: the mount stays behind, dead (once the worker has followed the supervisor).
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    wait_for("the dead mount", || {
        matches!(
            nix::sys::statfs::statfs(&first.mnt),
            Err(nix::errno::Errno::ENOTCONN)
        )
        .then_some(())
    });
    let _guard = common::MountGuard(first.mnt.clone());
    let mut second = Proc(
        Command::new(env!("CARGO_BIN_EXE_vproc"))
            .arg("serve")
            .arg(&first.mnt)
            .spawn()
            .unwrap(),
    );
    let probe = first.mnt.join("proc/meminfo");
    let ok = wait_for("the new daemon", || std::fs::read_to_string(&probe).ok());
    assert!(ok.starts_with("MemTotal:"));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    assert!(second.0.wait().unwrap().success());
}

#[test]
fn unresolvable_callers_get_host_values_and_are_counted() {
    use std::sync::Arc;
    use vproc::cgroup::resolve::{Mode, Resolver};
    use vproc::cgroup::Hierarchies;
    use vproc::compose::Composer;
    use vproc::fs::{Config, Service};
    use vproc::host::HostRoots;
    // A daemon whose /proc is a fixture: no real reader's pid exists there.
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/dev-machine");
    let h = Hierarchies::discover_at(&fixture.join("proc"), &fixture).unwrap();
    let r = Composer::new(
        Resolver::new(h, Mode::Container).unwrap(),
        HostRoots::at(&fixture.join("proc"), &fixture.join("sys")),
    );
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let cfg = Config {
        mountpoint: dir.path().join("mnt"),
        threads: 2,
    };
    let svc = Service::start(Arc::new(r), &cfg).unwrap();
    let out = Command::new("cat")
        .arg(cfg.mountpoint.join("proc/meminfo"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        std::fs::read(fixture.join("proc/meminfo")).unwrap()
    );
    assert_eq!(
        svc.stats()
            .host_fallbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let exited = &svc.stats().unresolved[vproc::fs::Unresolved::Exited as usize];
    assert!(exited.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    svc.stop().unwrap();
    assert!(!common::is_mounted(&cfg.mountpoint));
}

#[test]
fn loadavg_follows_busy_tasks() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("load");
    let mnt = d.mnt.display().to_string();
    // First read registers the container with the sampler.
    let first = run_in(&cg, &format!("cat {mnt}/proc/loadavg"));
    assert!(first.starts_with("0.00 0.00 0.00 "), "{first}");
    let _burn = Proc::spawn(Command::new("sh").arg("-c").arg(format!(
        "{}exec sh -c 'while :; do :; done'",
        cg.join_script()
    )));
    let start = Instant::now();
    let l = wait_for("a sampled load", || {
        std::thread::sleep(Duration::from_millis(500));
        let l = run_in(&cg, &format!("cat {mnt}/proc/loadavg"));
        (!l.starts_with("0.00 ") || start.elapsed() > Duration::from_secs(9)).then_some(l)
    });
    let avg1 = common::first_number(&l);
    assert!(avg1 > 0.05, "{l}");
    let fields: Vec<&str> = l.split_whitespace().collect();
    // The container's own tasks: the loop, the reading shell and its `cat`, any of which may be
    // runnable at that instant (3/3 was seen in the VM lane), never the host's.
    let (running, total) = fields[3].split_once('/').unwrap();
    let (running, total): (u32, u32) = (running.parse().unwrap(), total.parse().unwrap());
    assert!((1..=total).contains(&running) && total <= 4, "{l}");
}
