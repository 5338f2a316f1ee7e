//! Property tests: renderers never panic on any input, and the numbers they show keep their
//! invariants (MemFree <= MemTotal, per-CPU lines sum to the `cpu ` line, nothing negative).

use proptest::prelude::*;
use vproc::cgroup::{
    CpuQuota, CpuSet, CpuSnapshot, CpuUsage, MemorySnapshot, MemoryStat, PerCpuUsage, SwapSnapshot,
};
use vproc::views::{self, Clock, CpuView};

const HOST_MEMINFO: &[u8] = include_bytes!("fixtures/v2/kubepods/proc/meminfo");
const HOST_STAT: &[u8] = include_bytes!("fixtures/v2/kubepods/proc/stat");
const HOST_CPUINFO: &[u8] = include_bytes!("fixtures/v2/kubepods/proc/cpuinfo");

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![0..1u64 << 40, any::<u64>(), Just(u64::MAX), Just(0)]
}

fn opt() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(any_u64())
}

prop_compose! {
    fn memory()(limit in opt(), usage in any_u64(), swap in proptest::option::of((opt(), any_u64())),
                a in [opt(), opt(), opt(), opt(), opt(), opt(), opt(), opt(), opt()],
                b in [opt(), opt(), opt(), opt(), opt(), opt(), opt(), opt()]) -> MemorySnapshot {
        MemorySnapshot {
            limit,
            usage,
            swap: swap.map(|(limit, usage)| SwapSnapshot { limit, usage }),
            stat: MemoryStat {
                anon: a[0], file: a[1], kernel_stack: a[2], pagetables: a[3], shmem: a[4],
                file_mapped: a[5], file_dirty: a[6], file_writeback: a[7], anon_thp: a[8],
                active_anon: b[0], inactive_anon: b[1], active_file: b[2], inactive_file: b[3],
                unevictable: b[4], slab: b[5], slab_reclaimable: b[6], slab_unreclaimable: b[7],
                events: Default::default(),
            },
        }
    }
}

fn kb(text: &str, key: &str) -> u64 {
    let l = text.lines().find(|l| l.starts_with(key)).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

proptest! {
    #[test]
    fn meminfo_invariants(m in memory()) {
        let mut out = Vec::new();
        views::meminfo::render(HOST_MEMINFO, Some(&m), &mut out);
        let s = String::from_utf8(out).unwrap();
        let total = kb(&s, "MemTotal:");
        prop_assert!(total <= kb(std::str::from_utf8(HOST_MEMINFO).unwrap(), "MemTotal:"));
        prop_assert!(kb(&s, "MemFree:") <= total);
        prop_assert!(kb(&s, "MemAvailable:") <= total);
        prop_assert!(kb(&s, "SwapFree:") <= kb(&s, "SwapTotal:"));
        for line in s.lines().filter(|l| l.ends_with(" kB")) {
            let key = line.split(':').next().unwrap();
            let v: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            if !matches!(key, "SwapTotal" | "SwapFree" | "CommitLimit") {
                prop_assert!(v <= total, "{line} > {total}");
            }
        }
        prop_assert_eq!(s.lines().count(), std::str::from_utf8(HOST_MEMINFO).unwrap().lines().count());
    }

    #[test]
    fn stat_lines_sum_to_the_aggregate(
        ids in proptest::collection::btree_set(0usize..8, 1..8),
        quota in proptest::option::of((1u64..1_000_000, 1u64..1_000_000)),
        user in any_u64(), system in any_u64(),
        per in proptest::collection::vec((0usize..8, any_u64(), any_u64()), 0..8),
        up in any_u64(), start in opt(),
    ) {
        let mut host = CpuSet::new();
        for i in 0..8 { host.insert(i); }
        let mut cpuset = CpuSet::new();
        for i in &ids { cpuset.insert(*i); }
        let snap = CpuSnapshot {
            quota: quota.and_then(|(q, p)| CpuQuota::new(q, p)),
            cpuset: Some(cpuset),
            usage: None,
        };
        let v = CpuView::new(&host, &snap);
        prop_assert!(!v.visible.is_empty());
        let usage = CpuUsage {
            user_ns: user, system_ns: system,
            per_cpu: per.into_iter().map(|(cpu, u, s)| PerCpuUsage { cpu, user_ns: u, system_ns: s }).collect(),
        };
        let clock = Clock { host_uptime_cs: up, container_start_cs: start, user_hz: 100 };
        let times = views::stat::cpu_times(&v, &usage, &clock);
        let mut out = Vec::new();
        views::stat::render(HOST_STAT, &v, Some(&times), None, &views::stat::Scale::HOST, &mut out);
        let s = String::from_utf8(out).unwrap();
        let parse = |l: &str| -> Vec<u64> { l.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect() };
        let agg = parse(s.lines().next().unwrap());
        let mut sum = vec![0u64; 10];
        let mut n = 0;
        for l in s.lines().skip(1).take_while(|l| l.starts_with("cpu")) {
            n += 1;
            for (a, b) in sum.iter_mut().zip(parse(l)) { *a = a.saturating_add(b); }
        }
        prop_assert_eq!(n, v.visible.len());
        prop_assert_eq!(agg, sum);
    }

    #[test]
    fn renderers_never_panic_on_any_host_text(host in proptest::collection::vec(any::<u8>(), 0..2000), m in memory()) {
        let mut out = Vec::new();
        views::meminfo::render(&host, Some(&m), &mut out);
        let set = CpuSet::parse(b"0-1").unwrap();
        views::cpuinfo::render(&host, &set, &mut out);
        let v = CpuView::new(&set, &CpuSnapshot::default());
        views::stat::render(&host, &v, None, None, &views::stat::Scale::HOST, &mut out);
        views::diskstats::render(&host, Some(&Default::default()), &mut out);
        views::swaps::render(&host, None, &mut out);
    }

    #[test]
    fn parsers_never_panic(text in proptest::collection::vec(any::<u8>(), 0..500)) {
        let s = String::from_utf8_lossy(&text);
        let _ = vproc::kernel::parse::parse_u64(&text);
        let _ = CpuSet::parse(&text);
        let _ = vproc::kernel::mountinfo::parse(&s);
        let _ = vproc::cgroup::ProcCgroups::parse(&s);
        let _ = vproc::kernel::pid::Status::parse(&text);
        let _ = vproc::kernel::pid::parse_start_ticks(&text);
        let _ = vproc::kernel::pid::parse_state(&text);
        let _ = vproc::kernel::mountinfo::unescape(&s);
        let _ = vproc::fs::wire::request::decode(&text);
    }
}

#[test]
fn cpuinfo_fixture_keeps_only_visible_blocks() {
    let mut out = Vec::new();
    views::cpuinfo::render(HOST_CPUINFO, &CpuSet::parse(b"1,3").unwrap(), &mut out);
    let s = String::from_utf8(out).unwrap();
    assert_eq!(s.matches("processor\t:").count(), 2);
    assert!(s.contains("processor\t: 1\n") && s.contains("processor\t: 3\n"));
}
