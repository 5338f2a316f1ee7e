//! One entry point per fuzz target (`fuzz/fuzz_targets/*.rs` call them, and
//! `tests/fuzz_regressions.rs` replays every input that once crashed one): every parser of
//! kernel, cgroup, mountinfo, FUSE and hand-over text, and the renderers over arbitrary host
//! files. Each must return, whatever the input: no panic, no unbounded allocation.
#![doc(hidden)]
#![forbid(unsafe_code)]

use crate::cgroup::{CpuSnapshot, IoSnapshot, MemorySnapshot};
use crate::kernel::CpuSet;
use crate::views;

/// The names of the targets, as `fuzz/fuzz_targets/<name>.rs`.
pub const TARGETS: &[&str] = &[
    "kernel_text",
    "cgroup_files",
    "mountinfo",
    "fuse_request",
    "views",
    "state_files",
];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "kernel_text" => kernel_text(data),
        "cgroup_files" => cgroup_files(data),
        "mountinfo" => mountinfo(data),
        "fuse_request" => fuse_request(data),
        "views" => views(data),
        "state_files" => state_files(data),
        _ => {}
    }
}

/// Number, limit, key/value and CPU-list parsers, and `/proc/<pid>` files.
pub fn kernel_text(data: &[u8]) {
    use crate::kernel::{parse, pid};
    let _ = parse::parse_u64(data);
    let _ = parse::parse_limit(data);
    let _ = parse::parse_v1_quota(data);
    let _ = parse::parse_dev(data);
    let _ = parse::key_values(data).count();
    let _ = parse::eq_fields(data).count();
    if let Ok(set) = CpuSet::parse(data) {
        let _ = set.to_list();
        let _ = set.first(3).len();
    }
    let _ = pid::Status::parse(data);
    let _ = pid::parse_start_ticks(data);
    let _ = pid::parse_state(data);
}

/// The cgroup files whose formats vproc parses.
pub fn cgroup_files(data: &[u8]) {
    use crate::cgroup::text;
    let _ = text::parse_usage_all(data);
    let _ = text::parse_cpu_max(data);
    let _ = text::parse_io_stat(data);
    let mut snap = IoSnapshot::default();
    text::parse_blkio(data, &mut snap, true);
    let s = String::from_utf8_lossy(data);
    let mut m = crate::cgroup::ProcCgroups::parse(&s);
    m.strip_init_scope();
}

/// The mount table, and its escapes.
pub fn mountinfo(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = crate::kernel::mountinfo::parse(&s);
    let _ = crate::kernel::mountinfo::unescape(&s);
}

/// A request as `/dev/fuse` would hand it over.
pub fn fuse_request(data: &[u8]) {
    let _ = crate::fs::wire::request::decode(data);
}

/// Every renderer over arbitrary host text.
pub fn views(data: &[u8]) {
    let mut out = Vec::new();
    let mem = MemorySnapshot {
        limit: Some(256 << 20),
        usage: 1 << 20,
        ..MemorySnapshot::default()
    };
    views::meminfo::render(data, Some(&mem), &mut out);
    let set = CpuSet::parse(b"0-1").unwrap_or_default();
    views::cpuinfo::render(data, &set, &mut out);
    let v = views::CpuView::new(&set, &CpuSnapshot::default());
    views::stat::render(data, &v, None, None, &views::stat::Scale::HOST, &mut out);
    views::diskstats::render(data, Some(&IoSnapshot::default()), &mut out);
    views::swaps::render(data, None, &mut out);
}

/// The daemon's and the runtime's own state files: the hand-over message, container slots,
/// container records, OCI state and config.
pub fn state_files(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = crate::fs::supervisor::handover::Handover::decode(&s);
    for line in s.lines() {
        let _ = crate::fs::registry::decode_id(line);
    }
    let _ = crate::runtime::state::Record::decode(&s);
    let _ = vproc_mount::oci_hook::parse_state(data);
    let _ = vproc_mount::oci_hook::parse_config(data);
}
