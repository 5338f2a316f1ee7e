//! Malformed, missing and hostile cgroup input: each case gives the documented fallback, never
//! a panic, a negative or a wrapped number.

use std::path::{Path, PathBuf};
use vproc::cgroup::resolve::{Mode, Resolver};
use vproc::cgroup::Hierarchies;
use vproc::compose::Composer;
use vproc::host::HostRoots;
use vproc::views::ViewId;

/// A writable copy of a fixture scenario.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

impl Scratch {
    fn of(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
            &root,
        );
        Self { _dir: dir, root }
    }

    fn write(&self, rel: &str, content: &str) -> &Self {
        std::fs::write(self.root.join(rel), content).unwrap();
        self
    }

    fn remove(&self, rel: &str) -> &Self {
        let p = self.root.join(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
        self
    }

    fn render(&self, view: ViewId, pid: u32) -> String {
        let h = Hierarchies::discover_at(&self.root.join("proc"), &self.root).unwrap();
        let r = Composer::new(
            Resolver::new(h, Mode::Container).unwrap(),
            HostRoots::at(&self.root.join("proc"), &self.root.join("sys")),
        )
        .with_fixed_uptime(60470, 100);
        let mut out = Vec::new();
        r.compose_for_pid(view, pid, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn host(&self, file: &str) -> String {
        std::fs::read_to_string(self.root.join("proc").join(file)).unwrap()
    }
}

fn value(text: &str, key: &str) -> u64 {
    let l = text
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key}"));
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const V2_CTR: &str = "sys/fs/cgroup/kubepods/pod1/ctr";
const V2_TOP: &str = "sys/fs/cgroup/kubepods";

#[test]
fn unreadable_memory_limit_serves_host_meminfo() {
    for bad in [
        "",
        "\n",
        "garbage",
        "-1",
        "99999999999999999999999",
        "12 34",
    ] {
        let s = Scratch::of("v2/kubepods");
        s.write(&format!("{V2_TOP}/memory.max"), bad);
        assert_eq!(
            s.render(ViewId::Meminfo, 201),
            s.host("meminfo"),
            "memory.max = {bad:?}"
        );
    }
}

#[test]
fn limits_above_the_host_are_capped() {
    let s = Scratch::of("v2/kubepods");
    s.write(&format!("{V2_TOP}/memory.max"), "1099511627776\n");
    s.write(&format!("{V2_TOP}/pod1/memory.swap.max"), "1099511627776\n");
    let m = s.render(ViewId::Meminfo, 201);
    assert_eq!(
        value(&m, "MemTotal:"),
        value(&s.host("meminfo"), "MemTotal:")
    );
    assert_eq!(
        value(&m, "SwapTotal:"),
        value(&s.host("meminfo"), "SwapTotal:")
    );
}

#[test]
fn missing_ancestor_limit_and_max_mean_unlimited() {
    let s = Scratch::of("v2/kubepods");
    s.remove(&format!("{V2_TOP}/memory.max"));
    let m = s.render(ViewId::Meminfo, 201);
    assert_eq!(
        value(&m, "MemTotal:"),
        value(&s.host("meminfo"), "MemTotal:")
    );
}

#[test]
fn usage_above_limit_clamps_to_zero() {
    let s = Scratch::of("v2/kubepods");
    s.write(&format!("{V2_CTR}/memory.current"), "9999999999\n");
    s.write(&format!("{V2_CTR}/memory.swap.current"), "999999999999\n");
    let m = s.render(ViewId::Meminfo, 201);
    assert_eq!(value(&m, "MemFree:"), 0);
    assert_eq!(value(&m, "SwapFree:"), 0);
    assert!(value(&m, "MemAvailable:") <= value(&m, "MemTotal:"));
}

#[test]
fn bad_cpu_files_fall_back_per_part() {
    let s = Scratch::of("v2/kubepods");
    s.write(&format!("{V2_TOP}/cpu.max"), "-1 100000");
    // No quota: both CPUs of the cpuset.
    assert_eq!(s.render(ViewId::CpuOnline, 201), "2-3\n");
    s.write(&format!("{V2_CTR}/cpuset.cpus.effective"), "zz");
    // No cpuset either: every host CPU.
    assert_eq!(s.render(ViewId::CpuOnline, 201), "0-3\n");
    s.write(&format!("{V2_CTR}/cpu.stat"), "garbage\n");
    // No usage: the host's lines for the visible CPUs.
    let stat = s.render(ViewId::Stat, 201);
    let host = s.host("stat");
    let host_cpu1 = host.lines().find(|l| l.starts_with("cpu1 ")).unwrap();
    assert!(stat.contains(host_cpu1), "{stat}");
    let up = s.render(ViewId::Uptime, 201);
    assert_eq!(up, "4.70 18.80\n");
}

#[test]
fn empty_io_stat_gives_zeros() {
    let s = Scratch::of("v2/kubepods");
    s.write(&format!("{V2_CTR}/io.stat"), "");
    let d = s.render(ViewId::Diskstats, 201);
    assert!(d.contains(" vda 0 0 0 0 0 0 0 0 "), "{d}");
}

#[test]
fn deleted_cgroup_serves_host_views() {
    let s = Scratch::of("v2/kubepods");
    s.remove(V2_CTR);
    assert_eq!(s.render(ViewId::Meminfo, 201), s.host("meminfo"));
    // No cpuset and no quota of a deleted cgroup: every host CPU.
    assert_eq!(s.render(ViewId::CpuOnline, 201), "0-3\n");
    assert_eq!(s.render(ViewId::Diskstats, 201), s.host("diskstats"));
}

#[test]
fn missing_controller_and_garbage_membership() {
    let s = Scratch::of("v1/dev-machine");
    let mi = std::fs::read_to_string(s.root.join("proc/self/mountinfo")).unwrap();
    let without_memory: String = mi
        .lines()
        .filter(|l| !l.contains("rw,memory"))
        .map(|l| format!("{l}\n"))
        .collect();
    s.write("proc/self/mountinfo", &without_memory);
    assert_eq!(s.render(ViewId::Meminfo, 200), s.host("meminfo"));
    assert_eq!(s.render(ViewId::CpuOnline, 200), "0\n");
    s.write("proc/200/cgroup", "garbage\n:::\n");
    assert_eq!(s.render(ViewId::CpuOnline, 200), "0-1\n");
}

#[test]
fn v1_quota_minus_one_and_empty_files() {
    let s = Scratch::of("v1/dev-machine");
    s.write(
        "sys/fs/cgroup/cpu/vproc-test-capture/cpu.cfs_quota_us",
        "-1\n",
    );
    s.write(
        "sys/fs/cgroup/cpuset/vproc-test-capture/cpuset.effective_cpus",
        "\n",
    );
    s.write("sys/fs/cgroup/cpuset/vproc-test-capture/cpuset.cpus", "\n");
    // Empty cpuset lists defer to the root's 0-1; no quota -> both CPUs.
    assert_eq!(s.render(ViewId::CpuOnline, 200), "0-1\n");
    s.write(
        "sys/fs/cgroup/cpuacct/vproc-test-capture/cpuacct.usage_all",
        "",
    );
    let stat = s.render(ViewId::Stat, 200);
    assert_eq!(stat.lines().filter(|l| l.starts_with("cpu")).count(), 3);
    s.write(
        "sys/fs/cgroup/memory/parent/vproc-test-capture/memory.stat",
        "",
    );
    let m = s.render(ViewId::Meminfo, 200);
    assert_eq!(value(&m, "MemTotal:"), 262144);
    assert_eq!(value(&m, "Cached:"), 0);
}

#[test]
fn dead_or_reused_init_is_not_trusted() {
    let s = Scratch::of("v1/dev-machine");
    let first = s.render(ViewId::Uptime, 201);
    assert!(first.starts_with("4.70 "));
    // The init's pid now belongs to a process started later: its start time differs.
    s.write(
        "proc/200/stat",
        "200 (other) S 1 200 200 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 60400 0 0\n",
    );
    assert!(s.render(ViewId::Uptime, 201).starts_with("0.70 "));
    s.remove("proc/200");
    // Init gone (its namespace is being torn down): host values, never another container's.
    assert_eq!(s.render(ViewId::Meminfo, 201), s.host("meminfo"));
}

#[test]
fn paths_with_escaped_spaces() {
    let s = Scratch::of("hybrid/comounted");
    let m = s.render(ViewId::Meminfo, 201);
    assert_eq!(value(&m, "MemTotal:"), 262144);
}
