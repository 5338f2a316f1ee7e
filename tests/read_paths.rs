//! Every way a program reads a file, on every path vproc offers: `read` (GNU cat), `pread`,
//! `sendfile` (busybox cat, Python `os.sendfile` and `shutil.copyfile`), `splice` through a
//! pipe, and `mmap` give identical bytes, on a container's own files (`by-pid`), on the shared
//! views tree read from inside a container, and inside `vproc run` with its embedded server.
//! Two containers reading at once never see each other's values, and readers that keep a file
//! open see new values.

mod common;

use common::{line, vproc_bin, Daemon, TestCgroup};
use std::process::Command;

/// Reads every view named on the command line (relative to the root given first) with every
/// method and prints `ok` if all agree, else the first difference. They agree when they give
/// the same lines with the same fields: the numbers may differ between two reads, as the
/// uptime and every file of a container in its first seconds are rendered for each read.
const ALL_METHODS: &str = r#"
import mmap, os, re, shutil, subprocess, sys, tempfile
root, views = sys.argv[1], sys.argv[2:]
def read(p):
    with open(p, "rb") as f:
        return f.read()
def pread(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        out, off = b"", 0
        while True:
            b = os.pread(fd, 4096, off)
            if not b:
                return out
            out, off = out + b, off + len(b)
    finally:
        os.close(fd)
def sendfile(p):
    fd = os.open(p, os.O_RDONLY)
    with tempfile.TemporaryFile() as t:
        off = 0
        while True:
            n = os.sendfile(t.fileno(), fd, off, 1 << 20)
            if n == 0:
                break
            off += n
        os.close(fd)
        t.seek(0)
        return t.read()
def copyfile(p):
    with tempfile.NamedTemporaryFile() as t:
        shutil.copyfile(p, t.name)
        return read(t.name)
def splice(p):
    fd = os.open(p, os.O_RDONLY)
    r, w = os.pipe()
    out = b""
    while True:
        n = os.splice(fd, w, 65536)
        if n == 0:
            break
        out += os.read(r, n)
    for x in (fd, r, w):
        os.close(x)
    return out
def mapped(p):
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        with mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ) as m:
            return m[:]
def gnu_cat(p):
    return subprocess.run(["cat", p], capture_output=True, check=True).stdout
def busybox_cat(p):
    return subprocess.run(["busybox", "cat", p], capture_output=True, check=True).stdout
methods = [read, pread, sendfile, copyfile, splice, mapped, gnu_cat, busybox_cat]
for v in views:
    p = os.path.join(root, v)
    ref = read(p)
    if not ref:
        print(f"{v}: empty"); sys.exit(1)
    shape = lambda b: re.sub(rb" +", b" ", re.sub(rb"[0-9]+", b"N", b))
    for m in methods:
        got = m(p)
        if shape(got) != shape(ref):
            diff = [(a, b) for a, b in zip(ref.split(b"\n"), got.split(b"\n")) if shape(a) != shape(b)]
            print(f"{v}: {m.__name__} gave {len(got)} bytes, read gave {len(ref)}; first different line: {diff[:1]}"); sys.exit(1)
print("ok")
"#;

const VIEWS: [&str; 8] = [
    "proc/meminfo",
    "proc/cpuinfo",
    "proc/stat",
    "proc/uptime",
    "proc/loadavg",
    "proc/swaps",
    "proc/diskstats",
    "sys/devices/system/cpu/online",
];

fn have_busybox() -> bool {
    Command::new("busybox")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs ALL_METHODS in `cg` through `wrap` (e.g. a new pid namespace); panics unless "ok".
fn check_methods(cg: &TestCgroup, wrap: &str, root: &str) {
    let script = format!(
        "{}{wrap} python3 -c '{ALL_METHODS}' {root} {}",
        cg.join_script(),
        VIEWS.join(" ")
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == "ok",
        "{root} ({wrap}): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_method_reads_the_same_bytes_on_every_path() {
    require_real_cgroups!();
    require!(have_busybox(), "busybox is not installed");
    // A long cache TTL: every method must see the same rendering.
    let d = Daemon::start(&["--cache-ms", "10000"]);
    let cg = TestCgroup::new("methods").with_standard_limits();
    let mnt = d.mnt.display().to_string();
    // The container's own files, named by a pid in it.
    check_methods(&cg, "", &format!("{mnt}/by-pid/$$"));
    // The shared tree, read from inside a container (a new pid namespace in the cgroup).
    check_methods(&cg, "unshare --pid --fork", &mnt);
    // The shared tree, read by a process of the host's pid namespace in the cgroup.
    check_methods(&cg, "", &mnt);
    // What they read is the container's: 256 MiB.
    let m = common::run_in(&cg, &format!("busybox cat {mnt}/by-pid/$$/proc/meminfo"));
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
}

#[test]
fn every_method_reads_the_same_bytes_in_vproc_run() {
    require_real_cgroups!();
    require!(have_busybox(), "busybox is not installed");
    let script = format!("python3 -c '{ALL_METHODS}' / {}", VIEWS.join(" "));
    let out = Command::new(vproc_bin())
        .args([
            "run",
            "--cgroup-parent",
            ".",
            "--memory",
            "256m",
            "--cache-ms",
            "10000",
            "--",
            "sh",
            "-c",
        ])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(vproc_bin())
        .args(["run", "--cgroup-parent", ".", "--memory", "256m", "--"])
        .args(["busybox", "cat", "/proc/meminfo"])
        .output()
        .unwrap();
    assert_eq!(
        line(&String::from_utf8_lossy(&out.stdout), "MemTotal:"),
        "MemTotal:         262144 kB"
    );
}

/// Two containers, bound the way runc binds `-v` files (from inside the container, before the
/// command runs), each reading its meminfo 10,000 times with GNU cat and 10,000 times with
/// busybox cat (sendfile) at the same time as the other: every MemTotal is its own.
#[test]
fn two_containers_never_see_each_others_values() {
    require_real_cgroups!();
    require!(have_busybox(), "busybox is not installed");
    let d = Daemon::start(&[]);
    let mnt = d.mnt.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    let mut cgroups = Vec::new();
    for (i, mib) in [256u64, 384].into_iter().enumerate() {
        let cg = TestCgroup::new("two");
        cg.set("memory", "memory.limit_in_bytes", &(mib << 20).to_string());
        let log = dir.path().join(format!("log-{i}"));
        // 100 file arguments per process: 100 opens and reads each, 100 processes per tool.
        let script = format!(
            "{join}exec unshare --mount --pid --fork sh -c '\
             mount --bind {mnt}/proc/meminfo /proc/meminfo && \
             files=$(for i in $(seq 100); do printf \"/proc/meminfo \"; done) && \
             for r in $(seq 100); do cat $files; busybox cat $files; done \
             | grep ^MemTotal: | sort | uniq -c > {log}'",
            join = cg.join_script(),
            log = log.display()
        );
        children.push(common::Proc::spawn(
            Command::new("sh").arg("-c").arg(script),
        ));
        cgroups.push((cg, log, mib));
    }
    for mut c in children {
        assert!(c.0.wait().unwrap().success());
    }
    for (_, log, mib) in &cgroups {
        let text = std::fs::read_to_string(log).unwrap();
        let want = format!("20000 MemTotal: {:>14} kB", mib * 1024);
        assert_eq!(text.trim(), want.trim(), "{mib} MiB container");
    }
}

/// `vmstat 1` keeps /proc/stat open and rewinds it: with a busy task in a container limited to
/// half a CPU, the lines after the first show that container's CPU busy.
#[test]
fn a_kept_file_sees_new_values() {
    require_real_cgroups!();
    let d = Daemon::start(&[]);
    let cg = TestCgroup::new("vmstat").with_standard_limits();
    let _burn = common::Proc::spawn(Command::new("sh").arg("-c").arg(format!(
        "{}exec sh -c 'while :; do :; done'",
        cg.join_script()
    )));
    let mnt = d.mnt.display().to_string();
    let out = common::run_in(
        &cg,
        &format!(
            "exec unshare --mount --pid --fork sh -c 'mount --bind {mnt}/proc/stat /proc/stat && vmstat 1 3'"
        ),
    );
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{out}");
    for row in &rows[1..] {
        // us, sy, id are columns 13, 14, 15.
        let f: Vec<u64> = row
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        assert!(f.len() >= 15, "{out}");
        let busy = f[12] + f[13];
        assert!(busy >= 80, "the container's CPU is busy: {row}\n{out}");
    }
}
