//! Every view, rendered for three kinds of caller on fixture trees of cgroup v1, v2 and hybrid
//! hosts (see tests/fixtures/README.md), against golden files and against exact values.

use std::path::{Path, PathBuf};
use vproc::cgroup::resolve::{Mode, Resolver};
use vproc::cgroup::Hierarchies;
use vproc::compose::{Composer, Served};
use vproc::host::HostRoots;
use vproc::views::ViewId;

/// The fixtures' host uptime (their `proc/uptime`), so container ages are fixed.
const UPTIME_CS: u64 = 60470;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn renderer(name: &str, mode: Mode) -> Composer {
    let root = scenario(name);
    let h = Hierarchies::discover_at(&root.join("proc"), &root).unwrap();
    let r = Resolver::new(h, mode).unwrap();
    Composer::new(r, HostRoots::at(&root.join("proc"), &root.join("sys")))
        .with_fixed_uptime(UPTIME_CS, 100)
}

fn render(r: &Composer, view: ViewId, pid: u32) -> String {
    let mut out = Vec::new();
    assert_eq!(
        r.compose_for_pid(view, pid, &mut out),
        Served::Container,
        "{view:?} pid {pid}"
    );
    String::from_utf8(out).unwrap()
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

#[test]
fn golden_outputs() {
    let bless = std::env::var_os("VPROC_BLESS").is_some();
    let mut mismatches = Vec::new();
    for name in ["v1/dev-machine", "v2/kubepods", "hybrid/comounted"] {
        let r = renderer(name, Mode::Container);
        for pid in [100, 200, 201] {
            for view in ViewId::ALL {
                let got = render(&r, view, pid);
                let file = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/golden")
                    .join(name)
                    .join(format!("{pid}-{}.txt", view.name()));
                if bless {
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(&file, &got).unwrap();
                    continue;
                }
                let want = std::fs::read_to_string(&file).unwrap_or_default();
                if got != want {
                    mismatches.push(format!(
                        "{}:\n--- want\n{want}\n--- got\n{got}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn v1_real_files_give_the_container_limits() {
    let r = renderer("v1/dev-machine", Mode::Container);
    for pid in [100, 200, 201] {
        let m = render(&r, ViewId::Meminfo, pid);
        assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
        // memsw 384 MiB - memory 256 MiB = 128 MiB of swap, capped by the host's 0.
        assert_eq!(line(&m, "SwapTotal:"), "SwapTotal:             0 kB");
        assert_eq!(render(&r, ViewId::CpuOnline, pid), "0\n");
        let cpuinfo = render(&r, ViewId::Cpuinfo, pid);
        assert_eq!(cpuinfo.matches("processor\t:").count(), 1);
        assert!(cpuinfo.contains("siblings\t: 1\n"));
        let stat = render(&r, ViewId::Stat, pid);
        assert_eq!(stat.lines().filter(|l| l.starts_with("cpu")).count(), 2);
        assert!(stat.contains("\ncpu0 "));
    }
    let m = render(&r, ViewId::Meminfo, 200);
    // usage 16531456 bytes (real capture) -> 16144 kB used.
    assert_eq!(line(&m, "Dirty:"), "Dirty:                 4 kB");
    assert_eq!(line(&m, "Inactive(file):"), "Inactive(file):    15616 kB");
    // The host caller sees the host's uptime, the container's init its own age (604.70 - 600.00).
    assert_eq!(
        render(&r, ViewId::Uptime, 100).split(' ').next(),
        Some("604.70")
    );
    assert_eq!(
        render(&r, ViewId::Uptime, 201).split(' ').next(),
        Some("4.70")
    );
    let disk = render(&r, ViewId::Diskstats, 200);
    // 16 reads and 16 writes of 8 MiB each (16384 sectors) on 254:0, nothing elsewhere.
    assert!(
        disk.contains(" 254       0 vda 16 0 16384 0 16 0 16384 0 "),
        "{disk}"
    );
    assert!(disk.contains("   7       0 loop0 0 0 0 0"));
}

#[test]
fn v2_ancestor_limits_apply_and_children_do_not_narrow() {
    let r = renderer("v2/kubepods", Mode::Container);
    let m = render(&r, ViewId::Meminfo, 201);
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         524288 kB");
    assert_eq!(line(&m, "MemFree:"), "MemFree:          319488 kB");
    // free + active_file + inactive_file + slab_reclaimable = 319488 + 22528 + 40960 + 6144.
    assert_eq!(line(&m, "MemAvailable:"), "MemAvailable:     389120 kB");
    assert_eq!(line(&m, "SwapTotal:"), "SwapTotal:         65536 kB");
    assert_eq!(line(&m, "SwapFree:"), "SwapFree:          61440 kB");
    assert_eq!(line(&m, "Mapped:"), "Mapped:            16384 kB");
    assert_eq!(line(&m, "Dirty:"), "Dirty:              1024 kB");
    assert_eq!(line(&m, "Writeback:"), "Writeback:           512 kB");
    assert_eq!(line(&m, "AnonHugePages:"), "AnonHugePages:     32768 kB");
    assert_eq!(line(&m, "Slab:"), "Slab:               8192 kB");
    assert_eq!(line(&m, "KernelStack:"), "KernelStack:        1024 kB");
    // cpu.max 1.5 on kubepods over cpuset 2-3: two CPUs, real ids everywhere.
    assert_eq!(render(&r, ViewId::CpuOnline, 201), "2-3\n");
    let cpuinfo = render(&r, ViewId::Cpuinfo, 201);
    assert!(cpuinfo.contains("processor\t: 2\n") && cpuinfo.contains("processor\t: 3\n"));
    assert!(!cpuinfo.contains("processor\t: 0\n"));
    let stat = render(&r, ViewId::Stat, 201);
    // 9 s user and 3 s system over 2 CPUs, split evenly.
    assert!(stat.starts_with("cpu  900 0 300 "), "{stat}");
    assert!(stat.contains("\ncpu2 450 0 150 ") && stat.contains("\ncpu3 450 0 150 "));
    let swaps = render(&r, ViewId::Swaps, 201);
    assert!(!swaps.contains("vdb"));
    assert!(
        swaps.contains("partition\t65536\t\t4096\t\t-2\n"),
        "{swaps:?}"
    );
    let disk = render(&r, ViewId::Diskstats, 201);
    assert!(
        disk.contains(" vda 192 0 2850 0 353 0 614792 0 0 0 0 1 0 8 "),
        "{disk}"
    );
}

#[test]
fn hybrid_comounted_and_escaped_paths() {
    let r = renderer("hybrid/comounted", Mode::Container);
    let m = render(&r, ViewId::Meminfo, 201);
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
    // cpuset.effective_cpus is empty, cpuset.cpus says 0-1; quota 1.5 -> 2 CPUs.
    assert_eq!(render(&r, ViewId::CpuOnline, 201), "0-1\n");
}

#[test]
fn per_caller_mode_uses_the_callers_own_cgroup() {
    let r = renderer("v2/kubepods", Mode::PerCaller);
    // 201's own cgroup (ctr/sub/deeper) does not exist in the fixture: memory is unreadable
    // and the host's MemTotal is served for it, while uptime still counts from the init.
    let m = render(&r, ViewId::Meminfo, 201);
    let host = std::fs::read_to_string(scenario("v2/kubepods/proc/meminfo")).unwrap();
    assert_eq!(line(&m, "MemTotal:"), line(&host, "MemTotal:"));
    assert_eq!(
        render(&r, ViewId::Uptime, 201).split(' ').next(),
        Some("4.70")
    );
}

#[test]
fn unresolvable_callers_get_host_values() {
    let r = renderer("v1/dev-machine", Mode::Container);
    let mut out = Vec::new();
    assert_eq!(
        r.compose_for_pid(ViewId::Meminfo, 999, &mut out),
        Served::HostFallback
    );
    let host = std::fs::read(scenario("v1/dev-machine/proc/meminfo")).unwrap();
    assert_eq!(out, host);
}
