//! Zero-downtime restarts: 16 readers in 4 cgroups read every view in a loop while the daemon
//! is upgraded 20 times, has its worker SIGKILLed 20 times, and is restarted through an
//! emulated systemd fd store. No read may fail, see ENOTCONN, show a wrong value or wait 1 s.
//! Also: `vproc-mount remount --all` repairs containers whose daemon died outright.

mod common;

use common::{is_mounted, vproc_bin, wait_for, Daemon, Proc, TestCgroup};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vproc::fs::supervisor::Status;

/// Reads every view in a loop, through the views tree or (with a `{pid}` in the template) its
/// own container's files, until the stop file exists; writes its read count to the progress
/// file after every round; prints `reads failures enotconn wrong` and the first error.
const READER: &str = r#"
import errno, os, sys
tpl, want, stop, progress = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
root = tpl.replace("{pid}", str(os.getpid()))
views = ["proc/meminfo", "proc/cpuinfo", "proc/stat", "proc/uptime", "proc/loadavg",
         "proc/swaps", "proc/diskstats", "sys/devices/system/cpu/online"]
reads = failures = enotconn = wrong = 0
first = ""
while not os.path.exists(stop):
    for v in views:
        try:
            with open(os.path.join(root, v), "rb") as f:
                data = f.read()
            if v == "proc/meminfo":
                total = data.split(b"\n", 1)[0].split()[1].decode()
                if total != want:
                    wrong += 1
                    first = first or f"MemTotal {total} != {want}"
            elif not data:
                wrong += 1
                first = first or f"{v} empty"
        except OSError as e:
            failures += 1
            enotconn += e.errno == errno.ENOTCONN
            first = first or f"{v}: {e}"
        reads += 1
    with open(progress + ".tmp", "w") as p:
        p.write(str(reads))
    os.rename(progress + ".tmp", progress)
print(reads, failures, enotconn, wrong, first.replace(" ", "_") or "-")
"#;

/// Readers in 4 cgroups with different limits: 2 per cgroup through the views tree, 2 through
/// their container's own files (`by-pid`).
struct Readers {
    procs: Vec<(Child, PathBuf)>,
    stop: PathBuf,
    _dir: tempfile::TempDir,
    _cgroups: Vec<TestCgroup>,
}

impl Readers {
    fn start(mnt: &Path) -> Readers {
        let dir = tempfile::tempdir().unwrap();
        let stop = dir.path().join("stop");
        let mut procs = Vec::new();
        let mut cgroups = Vec::new();
        for i in 0..4u64 {
            let cg = TestCgroup::new("restart");
            let limit = (256 + 32 * i) << 20;
            cg.set("memory", "memory.limit_in_bytes", &limit.to_string());
            for j in 0..4 {
                let root = if j < 2 {
                    mnt.display().to_string()
                } else {
                    format!("{}/by-pid/{{pid}}", mnt.display())
                };
                let progress = dir.path().join(format!("progress-{i}-{j}"));
                let script = format!(
                    "{}exec python3 -c '{READER}' '{root}' {} {} {}",
                    cg.join_script(),
                    limit / 1024,
                    stop.display(),
                    progress.display()
                );
                let child = Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                procs.push((child, progress));
            }
            cgroups.push(cg);
        }
        let r = Readers {
            procs,
            stop,
            _dir: dir,
            _cgroups: cgroups,
        };
        r.wait_progress("the readers to start");
        r
    }

    fn counts(&self) -> Vec<u64> {
        self.procs
            .iter()
            .map(|(_, p)| {
                std::fs::read_to_string(p)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Waits until every reader has completed another round of reads (a liveness check: no
    /// reader is stuck; how many reads that takes is not a property under test).
    fn wait_progress(&self, what: &str) {
        let before = self.counts();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.counts();
            if now.iter().zip(&before).all(|(n, b)| n > b) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: readers stuck (reads before {before:?}, now {now:?})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the readers and asserts their results: no failed read, no ENOTCONN, no wrong
    /// value.
    fn finish(mut self, what: &str) {
        std::fs::write(&self.stop, "").unwrap();
        for (child, _) in self.procs.drain(..) {
            let out = child.wait_with_output().unwrap();
            let s = String::from_utf8(out.stdout).unwrap();
            let f: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(f.len(), 5, "{what}: reader output {s:?}");
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            assert_eq!(
                (n(1), n(2), n(3)),
                (0, 0, 0),
                "{what}: failures, ENOTCONN, wrong values; first: {}",
                f[4]
            );
        }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.stop, "");
        for (c, _) in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn status(mnt: &Path) -> Status {
    wait_for("the status file", || Status::read(mnt))
}

fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn thread_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn fuse_mounts_at(mnt: &Path) -> usize {
    let want = mnt.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .count()
}

#[test]
fn upgrades_and_worker_crashes_are_invisible() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let first = status(&d.mnt);
    let readers = Readers::start(&d.mnt);
    // (a) 20 upgrades to the binary on disk. Leaks are counted from after the first: the
    // original process also holds the mount session's own fd, which exec does not pass on.
    let upgrade = || {
        common::upgrade(&d.mnt);
        readers.wait_progress("after an upgrade");
    };
    upgrade();
    let fds_before = fd_count(first.supervisor);
    for _ in 1..20 {
        upgrade();
    }
    let after_upgrades = status(&d.mnt);
    assert_eq!(
        after_upgrades.supervisor, first.supervisor,
        "an upgrade keeps the pid"
    );
    assert_eq!(after_upgrades.generation, first.generation + 20);
    // (b) 20 worker crashes.
    for _ in 0..20 {
        let before = status(&d.mnt);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(before.worker),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_for("a new worker", || {
            Status::read(&d.mnt).filter(|s| s.generation > before.generation)
        });
        readers.wait_progress("after a worker crash");
    }
    readers.finish("upgrades and crashes");
    // Nothing leaked: the supervisor's fds, its single thread, one mount.
    let last = status(&d.mnt);
    assert_eq!(fd_count(last.supervisor), fds_before);
    assert_eq!(thread_count(last.supervisor), 1);
    assert_eq!(fuse_mounts_at(&d.mnt), 1);
    // One worker is left: the current one (old ones were stopped or reaped).
    let children = common::children(last.supervisor as u32);
    assert_eq!(children, [last.worker as u32]);
}

/// An emulated service manager: a NOTIFY_SOCKET that keeps the fds sent with FDSTORE=1.
struct FdStore {
    sock: std::os::unix::net::UnixDatagram,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl FdStore {
    fn new() -> FdStore {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        FdStore {
            sock,
            path,
            _dir: dir,
        }
    }

    /// Waits for messages until one carries an fd; returns it with its FDNAME.
    fn receive_fd(&self) -> (String, std::os::fd::OwnedFd) {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::{AsRawFd, FromRawFd};
        loop {
            let mut buf = [0u8; 256];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let msg = recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .unwrap();
            let mut fd = None;
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    // SAFETY: the kernel just installed these fds in this process for it.
                    fd = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) });
                }
            }
            let n = msg.bytes;
            if let Some(fd) = fd {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let name = text
                    .lines()
                    .find_map(|l| l.strip_prefix("FDNAME="))
                    .unwrap_or("")
                    .to_owned();
                return (name, fd);
            }
        }
    }
}

#[test]
fn restart_through_the_fd_store_keeps_the_mount() {
    require_real_cgroups!();
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let store = FdStore::new();
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    // Declared before the daemons: dropped after them, on every path.
    let _guard = common::MountGuard(mnt.clone());
    let first = Command::new(vproc_bin())
        .arg("serve")
        .arg(&mnt)
        .env("NOTIFY_SOCKET", &store.path)
        .spawn()
        .unwrap();
    let mut current = Proc(first);
    // The service manager keeps both trees' connections, in the order they were stored.
    let stored = [store.receive_fd(), store.receive_fd()];
    let names: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["vproc-views", "vproc-containers"]);
    wait_for("the mount", || {
        mnt.join("proc/meminfo").exists().then_some(())
    });
    let readers = Readers::start(&mnt);
    // Five times `systemctl restart`: SIGTERM; the manager keeps the connections; a new
    // instance gets them back as fds 3 and 4 (LISTEN_FDS=2, LISTEN_PID=its pid,
    // LISTEN_FDNAMES). (A request the old worker took as it stopped was once aborted here,
    // about one restart in six.)
    let fds = [stored[0].1.as_raw_fd(), stored[1].1.as_raw_fd()];
    for _ in 0..5 {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(current.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(current.0.wait().unwrap().success());
        assert!(is_mounted(&mnt), "the mount must survive the stop");
        let script = format!(
            "LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=vproc-views:vproc-containers exec {} serve {}",
            vproc_bin().display(),
            mnt.display()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).env("NOTIFY_SOCKET", &store.path);
        // SAFETY: between fork and exec only dup2 runs, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                for (i, fd) in fds.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        current = Proc(cmd.spawn().unwrap());
        // The new instance stores the connections again (second copies, dropped here).
        drop(store.receive_fd());
        drop(store.receive_fd());
        readers.wait_progress("after an fd-store restart");
    }
    readers.finish("fd-store restarts");
    assert_eq!(fuse_mounts_at(&mnt), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(current.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = current.0.wait();
    drop(stored);
}

#[test]
fn remount_all_repairs_containers_of_a_dead_daemon() {
    require_real_cgroups!();
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    let mut a = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &[]);
    // A container: a process in its own mount namespace, with the views bound in.
    let container = Proc::spawn(Command::new("unshare").args([
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
    let helper = Path::new(env!("CARGO_BIN_EXE_vproc")).with_file_name("vproc-mount");
    let run = |args: &[&str]| {
        let o = Command::new(&helper).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["pid", &pid, "--source", mnt.to_str().unwrap()]);
    assert!(run(&["status", "pid", &pid]).contains("/proc/meminfo\talive"));
    // The whole daemon dies (supervisor and, with it, the worker).
    let st = status(&mnt);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(st.supervisor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = a.child.wait();
    wait_for("the worker to die", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.worker), None)
            .is_err()
            .then_some(())
    });
    wait_for("stale views", || {
        run(&["status", "pid", &pid])
            .contains("/proc/meminfo\tstale")
            .then_some(())
    });
    let inside = |f: &str| {
        Command::new("nsenter")
            .args(["-t", &pid, "-m", "cat", f])
            .output()
            .unwrap()
    };
    assert!(
        !inside("/proc/meminfo").status.success(),
        "a dead view must fail before the repair"
    );
    // A new daemon at the same place (it clears its own dead mount), then the repair.
    let b = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &[]);
    let out = run(&["remount", "--all", "--source", mnt.to_str().unwrap()]);
    assert!(out.contains(&format!("{pid}\t/proc/meminfo")), "{out}");
    assert!(run(&["status", "pid", &pid]).contains("/proc/meminfo\talive"));
    let m = inside("/proc/meminfo");
    assert!(m.status.success() && String::from_utf8_lossy(&m.stdout).starts_with("MemTotal:"));
    drop(b);
    drop(container);
}

#[test]
fn a_broken_new_binary_leaves_the_old_one_serving() {
    require_real_cgroups!();
    // The daemon runs from a copy that the "upgrade" then replaces with garbage.
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let bin = dir.path().join("vproc");
    std::fs::copy(vproc_bin(), &bin).unwrap();
    let mnt = dir.path().join("mnt");
    let _guard = common::MountGuard(mnt.clone());
    let mut daemon = Proc(common::spawn_copied_binary(
        Command::new(&bin).arg("serve").arg(&mnt),
    ));
    let before = status(&mnt);
    std::fs::remove_file(&bin).unwrap();
    std::fs::write(&bin, "not an executable").unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(vproc_bin())
        .args(["upgrade", "--timeout", "2"])
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let after = status(&mnt);
    assert_eq!(
        (after.supervisor, after.worker, after.generation),
        (before.supervisor, before.worker, before.generation)
    );
    assert!(std::fs::read_to_string(mnt.join("proc/meminfo"))
        .unwrap()
        .starts_with("MemTotal:"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.0.wait().unwrap().success());
    assert!(!is_mounted(&mnt));
}

#[test]
fn load_averages_continue_across_an_upgrade() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("load-upgrade");
    let mnt = d.mnt.display().to_string();
    let read = || common::run_in(&cg, &format!("cat {mnt}/proc/loadavg"));
    assert!(read().starts_with("0.00 0.00 0.00 "));
    let _burn = Proc::spawn(Command::new("sh").arg("-c").arg(format!(
        "{}exec sh -c 'while :; do :; done'",
        cg.join_script()
    )));
    let before = wait_for("a sampled load", || {
        std::thread::sleep(Duration::from_millis(250));
        let l = read();
        (!l.starts_with("0.00 ")).then_some(l)
    });
    common::upgrade(&d.mnt);
    // Right after the upgrade, before the new worker's first sample, the average goes on.
    let after = read();
    let (avg_before, avg_after) = (common::first_number(&before), common::first_number(&after));
    assert!(
        avg_after >= avg_before * 0.8 && avg_after > 0.0,
        "before {before} after {after}"
    );
}
