//! Zero-downtime restarts: 16 readers in 4 cgroups read every view in a loop while the daemon
//! is upgraded 20 times, has its worker SIGKILLed 20 times, and is restarted, crashed and
//! reloaded through the shipped systemd unit (run by an emulated systemd). No read may fail, see ENOTCONN, show a wrong value or wait 1 s.
//! Also: `vproc-mount remount --all` repairs containers whose daemon died outright.

// Also in the v2-host VM lane (a 6.1 kernel, without FUSE_NOTIFY_RESEND), with fewer readers
// and rounds and more patience (see `rounds`, `Readers::start`, `wait_progress`, and the
// emulated systemd's limits in `common::Unit`): a debug binary started across virtiofs under
// emulation, with the host busy, takes seconds where it takes milliseconds here. What the
// lane's older kernel checks runs here too: `VPROC_NO_RESEND` makes this kernel drop a dead
// process's requests as 6.1 does.

mod common;

use common::{is_mounted, vproc_bin, wait_for, Daemon, Proc, TestCgroup};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vproc::fs::supervisor::{Status, NO_RESEND_ENV};

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
        // Under emulation (the VM lane) 16 busy readers starve the 2 emulated CPUs, and the
        // daemon with them: 4 there, both kinds in both cgroups.
        let (groups, per) = if std::env::var_os("VPROC_LANE").is_some() {
            (2, 2)
        } else {
            (4, 4)
        };
        for i in 0..groups {
            let cg = TestCgroup::new("restart");
            let limit = (256 + 32 * i) << 20;
            cg.set("memory", "memory.limit_in_bytes", &limit.to_string());
            for j in 0..per {
                let root = if j < per / 2 {
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
        // Under emulation late in the lane, 8 python readers once took over 60 s to start.
        let patience = if std::env::var_os("VPROC_LANE").is_some() {
            300
        } else {
            60
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(patience);
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
    fn finish(self, what: &str) {
        self.finish_losing(what, 0);
    }

    /// As [`Readers::finish`], but for `crashes` crashes of the process that answers: without
    /// `FUSE_NOTIFY_RESEND` (kernels before 6.9) each may fail the one read each reader had in
    /// the dead process's hands (ECONNABORTED), never more, and never with ENOTCONN or a
    /// wrong value.
    fn finish_after_crashes(self, what: &str, crashes: u64) {
        let allowed = if common::fuse_resend_supported() {
            0
        } else {
            crashes
        };
        self.finish_losing(what, allowed);
    }

    /// Asserts at most `allowed` failed reads per reader.
    fn finish_losing(mut self, what: &str, allowed: u64) {
        std::fs::write(&self.stop, "").unwrap();
        for (child, _) in self.procs.drain(..) {
            let out = child.wait_with_output().unwrap();
            let s = String::from_utf8(out.stdout).unwrap();
            let f: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(f.len(), 5, "{what}: reader output {s:?}");
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            assert!(
                n(1) <= allowed && (n(2), n(3)) == (0, 0),
                "{what}: {} failures (at most {allowed}), {} ENOTCONN, {} wrong values; first: {}",
                n(1),
                n(2),
                n(3),
                f[4]
            );
        }
    }
}

impl Drop for Readers {
    /// Bounded: a reader blocked on a request nobody answers is unkillable until the process
    /// holding that request's channel ends, which the test's later guards see to; waiting
    /// here would hang the test instead of failing it.
    fn drop(&mut self) {
        let _ = std::fs::write(&self.stop, "");
        for (c, _) in &mut self.procs {
            let _ = c.kill();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for (c, _) in &mut self.procs {
            while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// SIGKILLs the worker, waits for the next one, and for every reader to read again.
fn crash_worker(mnt: &Path, readers: &Readers) {
    let before = status(mnt);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before.worker),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("a new worker", || {
        Status::read(mnt).filter(|s| s.generation > before.generation)
    });
    readers.wait_progress("after a worker crash");
}

/// How many upgrades (or crashes) a test makes: 20; 5 in the VM lane, where each runs a
/// debug binary under emulation.
fn rounds() -> u64 {
    if std::env::var_os("VPROC_LANE").is_some() {
        5
    } else {
        20
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

/// The `/dev/fuse` files `pid` holds.
fn fuse_fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == Path::new("/dev/fuse")))
                .count()
        })
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
    let rounds = rounds();
    // (a) `rounds` upgrades to the binary on disk. Leaks are counted from after the first: the
    // original process also holds the mount session's own fd, which exec does not pass on.
    let upgrade = || {
        common::upgrade(&d.mnt);
        readers.wait_progress("after an upgrade");
    };
    upgrade();
    let fds_before = fd_count(first.supervisor);
    for _ in 1..rounds {
        upgrade();
    }
    let after_upgrades = status(&d.mnt);
    assert_eq!(
        after_upgrades.supervisor, first.supervisor,
        "an upgrade keeps the pid"
    );
    assert_eq!(after_upgrades.generation, first.generation + rounds);
    readers.finish("upgrades");
    // (b) `rounds` worker crashes, with readers of their own.
    let readers = Readers::start(&d.mnt);
    for _ in 0..rounds {
        crash_worker(&d.mnt, &readers);
    }
    readers.finish_after_crashes("worker crashes", rounds);
    // Nothing leaked: the supervisor's fds, its single thread, one mount.
    let last = status(&d.mnt);
    assert_eq!(fd_count(last.supervisor), fds_before);
    assert_eq!(thread_count(last.supervisor), 1);
    assert_eq!(fuse_mounts_at(&d.mnt), 1);
    // One worker is left: the current one (old ones were stopped or reaped).
    let children = common::children(last.supervisor as u32);
    assert_eq!(children, [last.worker as u32]);
}

/// `systemctl restart`, a crash of the whole service and `systemctl reload`, run from the
/// shipped unit's own command lines while readers read: no read fails or sees a wrong value,
/// and nothing the unit runs waits on the mount. A final stop flushes the store; the next
/// start clears the dead mount and serves again.
#[test]
fn the_shipped_unit_restarts_crashes_and_reloads_without_a_failed_read() {
    require_real_cgroups!();
    shipped_unit(false);
}

/// The same on a kernel without FUSE_NOTIFY_RESEND (before 6.9): a crash of the whole
/// service may fail the one read each reader had in the dead worker's hands (ECONNABORTED),
/// and must block none. It once hung a `by-pid` reader: the emulated systemd leaked its
/// stored fds into the service, which kept the dead instance's channel, and the request it
/// held, open; real systemd stores them close-on-exec, as the emulator now does.
#[test]
fn the_shipped_unit_without_resend_blocks_no_reader() {
    require_real_cgroups!();
    shipped_unit(true);
}

fn shipped_unit(no_resend: bool) {
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    // Declared before the service: dropped after it, on every path.
    let _guard = common::MountGuard(mnt.clone());
    let mut unit = common::Unit::start_with(
        "vproc.service",
        &[("/var/lib/vproc", mnt.to_str().unwrap())],
        if no_resend {
            &[(NO_RESEND_ENV, "1")]
        } else {
            &[]
        },
    );
    unit.act("start");
    let views = vproc::fs::Config::default_threads();
    let ctrs = vproc::fs::Config::container_threads(views);
    // Both trees' connections and channels are stored, none refused by FileDescriptorStoreMax.
    let stored = |unit: &mut common::Unit| {
        let want = format!(
            "ok status stored=vproc-views:1 vproc-containers:1 vproc-views-channel:{views} vproc-containers-channel:{ctrs} refused=-"
        );
        assert_eq!(unit.act("status").trim(), want);
    };
    // Each instance holds its two connections and its own channels, and nothing of an
    // earlier instance's: a channel kept open keeps the requests on it unanswered.
    let own_fuse_fds = |what: &str| {
        let want = 2 + views + ctrs;
        let mut held = 0;
        for _ in 0..250 {
            held = fuse_fd_count(status(&mnt).supervisor);
            if held == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("after {what}: the service holds {held} /dev/fuse files, not {want}");
    };
    stored(&mut unit);
    let readers = Readers::start(&mnt);
    for action in [
        "restart", "crash", "reload", "restart", "crash", "reload", "restart",
    ] {
        unit.act(action);
        assert!(is_mounted(&mnt), "the mount must survive {action}");
        readers.wait_progress(&format!("after {action}"));
        own_fuse_fds(action);
    }
    // Two of the events are crashes of the whole service.
    if no_resend {
        readers.finish_losing("the unit's restarts", 2);
    } else {
        readers.finish_after_crashes("the unit's restarts", 2);
    }
    // Each instance stored its own channels in place of the last one's.
    stored(&mut unit);
    assert_eq!(fuse_mounts_at(&mnt), 1);
    // The history carries over every instance: 2 crashes, 2 reloads (upgrades), 3 restarts.
    let st = status(&mnt);
    assert_eq!((st.crashes, st.upgrades, st.restarts), (2, 2, 3), "{st:?}");
    // `systemctl stop`: the store is flushed, the connections end; the next start replaces the
    // dead mount.
    unit.act("stop");
    unit.act("start");
    let m = std::fs::read_to_string(mnt.join("proc/meminfo")).unwrap();
    assert!(m.starts_with("MemTotal:"), "{m}");
    assert_eq!(fuse_mounts_at(&mnt), 1);
    unit.finish();
}

/// A DaemonSet's rolling update, node side: a second daemon started with `--take-over` gets
/// the running one's connections; the first stands by, and when it is stopped it leaves the
/// mounts to the second. No reader notices any of it.
#[test]
fn a_new_daemon_takes_over_from_a_running_one() {
    require_real_cgroups!();
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    let mut first = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &[]);
    let before = status(&mnt);
    let readers = Readers::start(&mnt);
    let second = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &["--take-over"]);
    let after = wait_for("the second daemon to serve", || {
        Status::read(&mnt).filter(|s| s.supervisor == second.pid() as i32)
    });
    assert_eq!(after.generation, before.generation + 1);
    assert_eq!(after.upgrades, 1);
    readers.wait_progress("after the take-over");
    // The first has no worker left, and its stop leaves the mounts alone.
    wait_for("the first worker to stop", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(before.worker), None)
            .is_err()
            .then_some(())
    });
    assert!(first.stop().success());
    assert!(is_mounted(&mnt));
    readers.wait_progress("after the first daemon stopped");
    readers.finish("a take-over");
    assert_eq!(fuse_mounts_at(&mnt), 1);
    // Asked again with nobody serving, --take-over simply mounts.
    drop(second);
    assert!(!is_mounted(&mnt));
    let third = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &["--take-over"]);
    assert_eq!(status(&mnt).supervisor, third.pid() as i32);
}

/// `vproc serve --repair-containers` (what the DaemonSet runs): after the whole daemon died,
/// the next one rebinds the views of running containers by itself.
#[test]
fn a_new_daemon_repairs_containers_left_with_dead_views() {
    require_real_cgroups!();
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    let mut a = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &[]);
    let container = Proc::spawn(Command::new("unshare").args([
        "--mount",
        "--propagation",
        "private",
        "sleep",
        "60",
    ]));
    let pid = container.pid().to_string();
    let helper = common::vproc_mount_bin();
    let state = || {
        let o = Command::new(&helper)
            .args(["status", "pid", &pid])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    wait_for("the namespace", || {
        let own = std::fs::read_link("/proc/self/ns/mnt").ok()?;
        (std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()? != own).then_some(())
    });
    let o = Command::new(&helper)
        .args(["pid", &pid, "--source", mnt.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let st = status(&mnt);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(st.supervisor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = a.child.wait();
    wait_for("stale views", || {
        state().contains("/proc/meminfo\tstale").then_some(())
    });
    let _b = Daemon::start_at(
        tempfile::tempdir().unwrap(),
        mnt.clone(),
        &["--repair-containers"],
    );
    wait_for("the repair", || {
        let s = state();
        (s.contains("/proc/meminfo\talive") && !s.contains("stale")).then_some(())
    });
    drop(container);
}

/// `vproc-mount remount --all` after the whole daemon died: a dry run only lists, a cgroup
/// filter picks one container, and a namespace that cannot be repaired (its mounts are locked:
/// it belongs to a less privileged user namespace) is reported in the summary while the others
/// are repaired.
#[test]
fn remount_all_repairs_containers_of_a_dead_daemon() {
    require_real_cgroups!();
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    let mut a = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &[]);
    // A container: a process in its own mount namespace and cgroup, with the views bound in.
    let cg = TestCgroup::new("remount");
    let container = Proc::spawn(Command::new("sh").arg("-c").arg(format!(
        "{}exec unshare --mount --propagation private sleep 60",
        cg.join_script()
    )));
    let pid = container.pid().to_string();
    let ns_of = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/mnt")).ok();
    wait_for("the namespace", || {
        (ns_of("self") != ns_of(&pid) && ns_of(&pid).is_some()).then_some(())
    });
    let helper = common::vproc_mount_bin();
    let run = |args: &[&str]| Command::new(&helper).args(args).output().unwrap();
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let src = mnt.to_str().unwrap();
    ok(&["pid", &pid, "--source", src]);
    assert!(ok(&["status", "pid", &pid]).contains("/proc/meminfo\talive"));
    // Inside it, a user namespace's copy of its mounts: locked, so no repair can unmount them.
    let locked = Proc::spawn(Command::new("nsenter").args([
        "-t",
        &pid,
        "-m",
        "--",
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sleep",
        "60",
    ]));
    let locked_pid = locked.pid().to_string();
    wait_for("the locked namespace", || {
        (ns_of(&locked_pid) != ns_of(&pid) && ns_of(&locked_pid).is_some()).then_some(())
    });
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
        ok(&["status", "pid", &pid])
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
    // A new daemon at the same place (it clears its own dead mount).
    let b = Daemon::start_at(tempfile::tempdir().unwrap(), mnt.clone(), &[]);
    // A dry run lists both namespaces and changes nothing.
    let dry = ok(&["remount", "--all", "--source", src, "--dry-run"]);
    for p in [&pid, &locked_pid] {
        assert!(
            dry.contains(&format!("{p}\t/proc/meminfo\twould repair")),
            "{dry}"
        );
    }
    assert!(ok(&["status", "pid", &pid]).contains("/proc/meminfo\tstale"));
    // The container's cgroup picks it alone.
    let name = cg
        .dir("memory")
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let picked = ok(&["remount", "--all", "--source", src, "--cgroup", &name]);
    assert!(
        picked.contains(&format!("{pid}\t/proc/meminfo\trepaired")),
        "{picked}"
    );
    assert!(!picked.contains(&locked_pid), "{picked}");
    assert!(ok(&["status", "pid", &pid]).contains("/proc/meminfo\talive"));
    let m = inside("/proc/meminfo");
    assert!(m.status.success() && String::from_utf8_lossy(&m.stdout).starts_with("MemTotal:"));
    // Everything else: the locked namespace fails, is named, and counted.
    let all = run(&["remount", "--all", "--source", src]);
    let err = String::from_utf8_lossy(&all.stderr);
    assert_eq!(all.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("pid {locked_pid}:")), "{err}");
    assert!(err.contains("0 namespace(s) repaired, 1 failed"), "{err}");
    drop(b);
    drop(locked);
    drop(container);
}

/// A daemon serving from its own copy of the binary, which a test can replace on disk.
struct CopiedDaemon {
    dir: tempfile::TempDir,
    bin: PathBuf,
    mnt: PathBuf,
    daemon: Proc,
    _guard: common::MountGuard,
}

impl CopiedDaemon {
    fn start() -> CopiedDaemon {
        let dir = tempfile::Builder::new()
            .prefix("vproc-test-")
            .tempdir()
            .unwrap();
        let bin = dir.path().join("vproc");
        std::fs::copy(vproc_bin(), &bin).unwrap();
        let mnt = dir.path().join("mnt");
        let _guard = common::MountGuard(mnt.clone());
        let daemon = Proc(common::spawn_copied_binary(
            Command::new(&bin).arg("serve").arg(&mnt),
        ));
        CopiedDaemon {
            dir,
            bin,
            mnt,
            daemon,
            _guard,
        }
    }

    /// Stops it with SIGTERM (from whichever binary it runs now): it exits cleanly and
    /// unmounts.
    fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(self.daemon.0.wait().unwrap().success());
        assert!(!is_mounted(&self.mnt));
    }
}

/// Puts an executable with `text` at `at`, in place of the file there (a new inode, as an
/// install does).
fn install(at: &Path, text: &str) {
    std::fs::remove_file(at).unwrap();
    std::fs::write(at, text).unwrap();
    std::fs::set_permissions(at, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn a_broken_new_binary_leaves_the_old_one_serving() {
    require_real_cgroups!();
    // The daemon runs from a copy that the "upgrade" then replaces with garbage.
    let d = CopiedDaemon::start();
    let mnt = d.mnt.clone();
    let before = status(&mnt);
    install(&d.bin, "not an executable");
    // `vproc upgrade` hears of the refusal from the status file (it once waited out its
    // whole timeout).
    let out = Command::new(vproc_bin())
        .arg("upgrade")
        .arg(&mnt)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("the daemon refused the upgrade"), "{err}");
    let after = status(&mnt);
    assert_eq!(
        (after.supervisor, after.worker, after.generation),
        (before.supervisor, before.worker, before.generation)
    );
    assert_eq!(
        (after.upgrades, after.refusals),
        (before.upgrades, before.refusals + 1)
    );
    assert!(std::fs::read_to_string(mnt.join("proc/meminfo"))
        .unwrap()
        .starts_with("MemTotal:"));
    d.stop();
}

/// An upgrade asks the binary on disk which hand-over versions it reads before exec'ing it;
/// that answer can take seconds (a cold debug binary on a loaded machine: it took over 5 s in
/// the emulated lane, where a fixed 5 s wait refused the upgrade). The supervisor waits for it
/// without blocking: a worker that dies meanwhile is replaced at once, the upgrade completes
/// when the answer comes, and a stop while it is out ends the question too.
#[test]
fn a_slow_new_binary_upgrades_while_the_supervisor_keeps_replacing_workers() {
    require_real_cgroups!();
    let d = CopiedDaemon::start();
    let (dir, mnt) = (d.dir.path().to_owned(), d.mnt.clone());
    let real = dir.join("vproc-real");
    std::fs::copy(vproc_bin(), &real).unwrap();
    let first = status(&mnt);
    // The new "binary" holds its answer until the test lets it go.
    let slow = |at: &Path, asked: &Path, go: &Path| {
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = handover-versions ]; then\n  echo $$ > {asked}.tmp && mv {asked}.tmp {asked}\n  while [ ! -e {go} ]; do sleep 0.05; done\nfi\nexec {real} \"$@\"\n",
            asked = asked.display(),
            go = go.display(),
            real = real.display()
        );
        install(at, &script);
    };
    let (asked, go) = (dir.join("asked"), dir.join("go"));
    slow(&d.bin, &asked, &go);
    let readers = Readers::start(&mnt);
    let mut upgrade = Proc::spawn(
        Command::new(vproc_bin())
            .args(["upgrade", "--timeout", "120"])
            .arg(&mnt)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    wait_for("the probe", || asked.exists().then_some(()));
    // While the question is out, a crashed worker is replaced (the probe once blocked this).
    crash_worker(&mnt, &readers);
    let crashed = status(&mnt);
    assert_eq!(
        (crashed.supervisor, crashed.generation, crashed.upgrades),
        (first.supervisor, first.generation + 1, first.upgrades)
    );
    std::fs::write(&go, "").unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut upgrade.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(upgrade.0.wait().unwrap().success(), "{err}");
    let upgraded = status(&mnt);
    assert_eq!(
        (upgraded.supervisor, upgraded.generation, upgraded.upgrades),
        (first.supervisor, first.generation + 2, first.upgrades + 1)
    );
    readers.wait_progress("after the slow upgrade");
    readers.finish_after_crashes("a crash while probing, then the upgrade", 1);
    // A stop while a probe is out: the daemon stops, and takes its probe with it. The daemon
    // now runs the image the script exec'd, so that is the binary on disk it asks.
    let (asked, go) = (dir.join("asked-2"), dir.join("go-2"));
    slow(&real, &asked, &go);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(upgraded.supervisor),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let probe: i32 = wait_for("the second probe", || {
        std::fs::read_to_string(&asked).ok()?.trim().parse().ok()
    });
    d.stop();
    // Killed (it would wait for its go file forever): gone, or a zombie its new parent has
    // not reaped yet.
    wait_for("the probe to be killed", || {
        let stat = std::fs::read_to_string(format!("/proc/{probe}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        matches!(state, None | Some('Z')).then_some(())
    });
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

/// Kernels before 6.9 have no `FUSE_NOTIFY_RESEND` (Debian 12's 6.1, Ubuntu 22.04's 5.15): a
/// request a stopping worker had taken could not be queued again, and its reader waited forever
/// (a python reader hung >16 min in the v2 lane's 6.1 guest during upgrades). The daemon here
/// behaves as on such a kernel ([`NO_RESEND_ENV`]): upgrades still lose no read, and a worker
/// crash costs each reader at most the one read it had in the dead worker's hands (ECONNABORTED),
/// never a hang.
#[test]
fn without_resend_upgrades_lose_nothing_and_crashes_hang_nothing() {
    require_real_cgroups!();
    let env = format!("{NO_RESEND_ENV}=1");
    let dir = tempfile::Builder::new()
        .prefix("vproc-test-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    let d = Daemon::start_wrapped(dir, mnt, &["env", &env], &[]);
    let readers = Readers::start(&d.mnt);
    // As many as the other upgrade test: the lost request needs a read landing in the
    // moment a worker stops (without the fix, 20 upgrades hung a reader here).
    let rounds = rounds();
    for _ in 0..rounds {
        common::upgrade(&d.mnt);
        readers.wait_progress("after an upgrade");
    }
    readers.finish("upgrades without resend");
    let readers = Readers::start(&d.mnt);
    for _ in 0..3 {
        crash_worker(&d.mnt, &readers);
    }
    readers.finish_losing("worker crashes without resend", 3);
}
