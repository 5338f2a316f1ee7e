//! Microbenchmarks of the read path's parts: each renderer on fixture inputs, a whole render
//! through `Renderer` (cgroup files read from the v2 fixture tree), and caller resolution on
//! this machine. Run with `cargo bench --bench views`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;
use vproc::cgroup::resolve::{Mode, Resolver};
use vproc::cgroup::{
    CpuSet, CpuSnapshot, CpuUsage, Hierarchies, MemorySnapshot, MemoryStat, SwapSnapshot,
};
use vproc::compose::Composer;
use vproc::host::HostRoots;
use vproc::views::ViewId;
use vproc::views::{self, Clock, CpuView};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

fn renderers(c: &mut Criterion) {
    let meminfo = fixture("v2/kubepods/proc/meminfo");
    let stat = fixture("v2/kubepods/proc/stat");
    let cpuinfo = fixture("v2/kubepods/proc/cpuinfo");
    let mem = MemorySnapshot {
        limit: Some(256 << 20),
        usage: 64 << 20,
        swap: Some(SwapSnapshot {
            limit: Some(64 << 20),
            usage: 0,
        }),
        stat: MemoryStat {
            file: Some(32 << 20),
            active_file: Some(8 << 20),
            inactive_file: Some(24 << 20),
            ..Default::default()
        },
    };
    let online = CpuSet::parse(b"0-3").unwrap();
    let cpu = CpuSnapshot {
        cpuset: Some(CpuSet::parse(b"2-3").unwrap()),
        ..Default::default()
    };
    let view = CpuView::new(&online, &cpu);
    let usage = CpuUsage {
        user_ns: 9_000_000_000,
        system_ns: 3_000_000_000,
        per_cpu: vec![],
    };
    let clock = Clock {
        host_uptime_cs: 60470,
        container_start_cs: Some(60000),
        user_hz: 100,
    };
    let mut out = Vec::with_capacity(8192);
    c.bench_function("render/meminfo", |b| {
        b.iter(|| {
            out.clear();
            views::meminfo::render(black_box(&meminfo), Some(&mem), &mut out);
        })
    });
    c.bench_function("render/stat", |b| {
        b.iter(|| {
            out.clear();
            let t = views::stat::cpu_times(&view, &usage, &clock);
            views::stat::render(
                black_box(&stat),
                &view,
                Some(&t),
                None,
                &views::stat::Scale::HOST,
                &mut out,
            );
        })
    });
    c.bench_function("render/cpuinfo", |b| {
        b.iter(|| {
            out.clear();
            views::cpuinfo::render(black_box(&cpuinfo), &view.visible, &mut out);
        })
    });
}

fn whole_render(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2/kubepods");
    let mk = |ttl_ms| {
        let h = Hierarchies::discover_at(&root.join("proc"), &root).unwrap();
        Composer::new(
            Resolver::new(h, Mode::Container).unwrap(),
            HostRoots::at(&root.join("proc"), &root.join("sys")),
        )
        .with_cache_ttl(std::time::Duration::from_millis(ttl_ms))
    };
    let mut out = Vec::with_capacity(8192);
    for (name, ttl) in [("uncached", 0), ("cached", 100_000)] {
        let r = mk(ttl);
        c.bench_function(&format!("renderer/meminfo-container-{name}"), |b| {
            b.iter(|| {
                out.clear();
                r.compose_for_pid(ViewId::Meminfo, black_box(201), &mut out);
            })
        });
    }
}

fn resolution(c: &mut Criterion) {
    let Ok(h) = Hierarchies::discover() else {
        return;
    };
    let r = Resolver::new(h, Mode::Container).unwrap();
    let me = std::process::id();
    c.bench_function("resolve/host-caller", |b| {
        b.iter(|| r.resolve(black_box(me)).unwrap())
    });
}

/// The load sampler's cost: one sample of this process's own cgroup (every task's state).
fn load_sample(c: &mut Criterion) {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()))
    else {
        return;
    };
    let dir = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    if !dir.join("tasks").exists() {
        return;
    }
    let d = vproc::cgroup::CgroupDir {
        version: vproc::cgroup::Version::V1,
        dir: dir.clone(),
        top: dir,
    };
    let n = vproc::cgroup::tasks::count(&d, Path::new("/proc")).total;
    c.bench_function(&format!("loadavg/count_tasks-{n}-tasks"), |b| {
        b.iter(|| vproc::cgroup::tasks::count(black_box(&d), Path::new("/proc")))
    });
}

criterion_group!(benches, renderers, whole_render, resolution, load_sample);
criterion_main!(benches);
