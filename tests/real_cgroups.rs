//! The model and renderers on this machine's own cgroup v1 hierarchies: real `vproc-test-*`
//! cgroups with limits, real processes moved in, real pid namespaces.

mod common;

use common::{children, line, wait_for, Proc, TestCgroup};
use std::process::Command;
use vproc::cgroup::resolve::{Mode, Resolver};
use vproc::cgroup::Hierarchies;
use vproc::compose::{Composer, Served};
use vproc::host::HostRoots;
use vproc::views::ViewId;

fn renderer(mode: Mode) -> Composer {
    let h = Hierarchies::discover().unwrap();
    Composer::new(Resolver::new(h, mode).unwrap(), HostRoots::default())
}

fn render(r: &Composer, view: ViewId, pid: u32) -> String {
    let mut out = Vec::new();
    assert_eq!(r.compose_for_pid(view, pid, &mut out), Served::Container);
    String::from_utf8(out).unwrap()
}

#[test]
fn host_pidns_process_sees_its_cgroup_limits() {
    require_real_cgroups!();
    let cg = TestCgroup::new("model").with_standard_limits();
    let child = Proc::spawn(Command::new("sleep").arg("30"));
    cg.add(child.pid());
    let r = renderer(Mode::Container);
    let m = render(&r, ViewId::Meminfo, child.pid());
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         262144 kB");
    assert_eq!(render(&r, ViewId::CpuOnline, child.pid()), "0\n");
    let cpuinfo = render(&r, ViewId::Cpuinfo, child.pid());
    assert_eq!(cpuinfo.matches("processor\t:").count(), 1);
    assert!(cpuinfo.contains("processor\t: 0\n"));
    let stat = render(&r, ViewId::Stat, child.pid());
    assert_eq!(stat.lines().filter(|l| l.starts_with("cpu")).count(), 2);
    // A host-pid-namespace caller sees the host's uptime.
    let host_up = common::first_number(&std::fs::read_to_string("/proc/uptime").unwrap());
    let up = common::first_number(&render(&r, ViewId::Uptime, child.pid()));
    assert!((up - host_up).abs() < 5.0, "{up} vs {host_up}");
}

#[test]
fn container_in_its_own_pid_namespace_is_judged_by_its_init() {
    require_real_cgroups!();
    let cg = TestCgroup::new("pidns").with_standard_limits();
    // A nested cgroup with a smaller limit: processes in it still see the container's limit.
    let nested = cg.child("nested");
    nested.set("memory", "memory.limit_in_bytes", "134217728");
    // On v2 a cgroup whose children use controllers holds no processes itself: the
    // container's own go into a leaf of it, as systemd's init.scope does.
    let leaf = common::on_v2().then(|| cg.child("init"));
    let script = format!(
        "{}exec unshare --fork --pid sh -c 'sleep 30 & wait'",
        leaf.as_ref().unwrap_or(&cg).join_script()
    );
    let outer = Proc::spawn(Command::new("sh").arg("-c").arg(script));
    let init = wait_for("the container init", || {
        children(outer.pid()).first().copied()
    });
    let worker = wait_for("the worker", || children(init).first().copied());
    nested.add(worker);

    let r = renderer(Mode::Container);
    let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    assert!(line(&status, "NSpid:").ends_with("\t2"), "{status}");
    for pid in [init, worker] {
        let m = render(&r, ViewId::Meminfo, pid);
        assert_eq!(
            line(&m, "MemTotal:"),
            "MemTotal:         262144 kB",
            "pid {pid}"
        );
        let up = common::first_number(&render(&r, ViewId::Uptime, pid));
        assert!(up < 2.0, "a fresh pid namespace is {up} s old");
    }
    // Per-caller mode judges the worker by its own (nested) cgroup.
    let r = renderer(Mode::PerCaller);
    let m = render(&r, ViewId::Meminfo, worker);
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         131072 kB");
    drop(outer);
}

/// A long-running daemon drops the slots of containers that are gone: a container judged by
/// its init is gone when the init exits, one judged by its cgroup when the cgroup is removed.
#[test]
fn containers_are_gone_when_their_init_exits_or_their_cgroup_is_removed() {
    require_real_cgroups!();
    let r = Resolver::new(Hierarchies::discover().unwrap(), Mode::Container).unwrap();
    let cg = TestCgroup::new("gone-init");
    let script = format!("{}exec unshare --fork --pid sleep 30", cg.join_script());
    let outer = Proc::spawn(Command::new("sh").arg("-c").arg(script));
    let init = wait_for("the container init", || {
        children(outer.pid()).first().copied()
    });
    let by_init = r.resolve(init).unwrap().id;
    assert!(matches!(
        by_init,
        vproc::cgroup::resolve::ContainerId::Init { .. }
    ));
    assert!(!r.is_gone(&by_init));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    drop(outer);
    wait_for("the init to exit", || {
        (!std::path::Path::new(&format!("/proc/{init}")).exists()).then_some(())
    });
    assert!(r.is_gone(&by_init));

    let cg = TestCgroup::new("gone-cgroup");
    let member = Proc::spawn(Command::new("sleep").arg("30"));
    cg.add(member.pid());
    let by_cgroup = r.resolve(member.pid()).unwrap().id;
    assert!(matches!(
        by_cgroup,
        vproc::cgroup::resolve::ContainerId::Cgroup { .. }
    ));
    drop(member);
    assert!(
        !r.is_gone(&by_cgroup),
        "an empty cgroup can still be joined"
    );
    drop(cg);
    assert!(r.is_gone(&by_cgroup));
}

#[test]
fn cpu_usage_and_hierarchical_limits_are_read() {
    require_real_cgroups!();
    let parent = TestCgroup::new("hier");
    parent.set("memory", "memory.limit_in_bytes", "536870912");
    let cg = parent.child("ctr");
    // No limit of its own: the parent's 512 MiB applies.
    let burner = Proc::spawn(Command::new("sh").arg("-c").arg(format!(
        "{}timeout 1 sh -c 'while :; do :; done'; sleep 30",
        cg.join_script()
    )));
    let r = renderer(Mode::Container);
    let pid = burner.pid();
    wait_for("the burner to join", || {
        std::fs::read_to_string(cg.dir("cpuacct").join("cgroup.procs"))
            .ok()
            .filter(|t| t.contains(&pid.to_string()))
    });
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let m = render(&r, ViewId::Meminfo, pid);
    assert_eq!(line(&m, "MemTotal:"), "MemTotal:         524288 kB");
    let stat = render(&r, ViewId::Stat, pid);
    let cpu: Vec<u64> = line(&stat, "cpu ")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    // About 1 s of CPU (100 ticks) was burnt inside the cgroup.
    assert!(cpu[0] + cpu[2] >= 50, "{stat}");
}
