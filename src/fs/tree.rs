//! The shape of the two trees vproc mounts, and the node ids that name their entries. Everything
//! here is derived from [`ViewId::ALL`]: adding a view adds its file, in the shared tree and in
//! every container's tree.
//!
//! * The **views tree** (the mountpoint, `/var/lib/vproc`):
//!   - `proc/meminfo`, ..., `sys/devices/system/cpu/online`: symbolic links whose target depends
//!     on who follows them: `../.c/<slot>/proc/meminfo`, the file of the follower's container.
//!     A path walk, and a runtime binding the file into a container from inside it (runc,
//!     crun), so gets that container's own file. A link keeps one dentry for everyone, so
//!     concurrent walks from different containers never invalidate each other's (a per-caller
//!     name would, and a bind mount racing that fails with ENOENT).
//!   - `.c/<slot>/proc/...`: each container's files, opened through the views tree's
//!     connection, so an open by another container is seen (see `ops.rs`).
//!   - `.reader/proc/...`: files rendered at each open for the process that opens them, for
//!     binds made outside any container (`vproc-mount rootfs`), and where a follower of a link
//!     cannot be resolved.
//!   - `.reader/sys/devices/system/cpu` also passes the host's entries of that directory
//!     through (see `passthrough.rs`), with only the reader's `cpuN` directories: the one
//!     directory a runtime binds whole.
//!   - `by-pid`: an empty directory, where the containers tree is mounted.
//! * The **containers tree** (`MOUNTPOINT/by-pid`): `<pid>/proc/...`, the files of the container
//!   that process `<pid>` belongs to, with no open round trip at all.
//!
//! Node ids below 256 are static and never change between versions, so a live upgrade keeps the
//! kernel's view of them. Per-container nodes are `slot << 8 | part`, with `slot` (from 1) naming
//! a container in the registry and `part` a view (its index) or a directory (`DIR_PART` + the
//! directory's index).

use crate::views::ViewId;

/// The static directories of a views tree, by node id; `.reader` and each container have the
/// same ones. Ids never change: a new directory gets a new number.
pub const DIRS: &[(u64, &str)] = &[
    (1, ""),
    (2, "proc"),
    (3, "sys"),
    (4, "sys/devices"),
    (5, "sys/devices/system"),
    (6, "sys/devices/system/cpu"),
    (9, "proc/pressure"),
];

/// The index in [`DIRS`] of `sys/devices/system/cpu`, which `.reader` fills with the host's
/// entries.
pub const CPU_DIR: usize = 5;

/// The views tree's `by-pid` directory (the containers tree's mountpoint).
pub const BY_PID: u64 = 7;
/// Its name.
pub const BY_PID_NAME: &str = "by-pid";
/// The views tree's `.c` directory: one subdirectory per container slot.
pub const SLOTS: u64 = 8;
/// Its name.
pub const SLOTS_NAME: &str = ".c";
/// The views tree's `.reader` directory (per-reader files).
pub const READER_NAME: &str = ".reader";
/// `.reader`'s directories are `READER_BASE + index in DIRS`.
const READER_BASE: u64 = 64;
/// The links are `LINK_BASE + view index`.
const LINK_BASE: u64 = 128;

/// Per-container parts from this value on are directories (`DIR_PART + index in DIRS`).
const DIR_PART: u64 = 0x80;

/// The node id of the per-reader file of `view` (under `.reader`). The first eight are the ids
/// vproc has always used for them (files an older version bound into containers keep working
/// across an upgrade); later views continue from 32.
pub fn reader_ino(view: ViewId) -> u64 {
    match view {
        ViewId::Cpuinfo => 10,
        ViewId::Diskstats => 11,
        ViewId::Loadavg => 12,
        ViewId::Meminfo => 13,
        ViewId::Stat => 14,
        ViewId::Swaps => 15,
        ViewId::Uptime => 16,
        ViewId::CpuOnline => 17,
        ViewId::CpuPossible => 32,
        ViewId::CpuPresent => 33,
        ViewId::Vmstat => 34,
        ViewId::PressureCpu => 35,
        ViewId::PressureMemory => 36,
        ViewId::PressureIo => 37,
    }
}

/// What a node id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A static directory of the views tree (index into [`DIRS`]), or the root of the
    /// containers tree (`Dir(0)` there).
    Dir(usize),
    /// The views tree's `by-pid` directory.
    ByPid,
    /// The views tree's `.c` directory.
    Slots,
    /// A directory of `.reader` (index into [`DIRS`]; 0 is `.reader` itself).
    ReaderDir(usize),
    /// The link a view's name is in the views tree.
    Link(ViewId),
    /// A view file that renders per open, for each reader.
    ReaderView(ViewId),
    /// A view file of one container.
    ContainerView {
        /// The container's slot.
        slot: u64,
        /// Which view.
        view: ViewId,
    },
    /// A directory of one container (`index` into [`DIRS`]; 0 is `<pid>` or `<slot>` itself).
    ContainerDir {
        /// The container's slot.
        slot: u64,
        /// Which directory.
        index: usize,
    },
    /// An entry of the host's CPU directory, passed through (its node id; see
    /// `passthrough.rs`). Files, directories and links alike: the host says which.
    Host(u64),
}

impl Node {
    /// Decodes a node id.
    pub fn from_ino(ino: u64) -> Option<Node> {
        if super::passthrough::is_host(ino) {
            return Some(Node::Host(ino));
        }
        if ino < 256 {
            return match ino {
                BY_PID => Some(Node::ByPid),
                SLOTS => Some(Node::Slots),
                i if i >= LINK_BASE => ViewId::ALL
                    .get(usize::try_from(i - LINK_BASE).ok()?)
                    .map(|v| Node::Link(*v)),
                i if i >= READER_BASE => {
                    let index = usize::try_from(i - READER_BASE).ok()?;
                    (index < DIRS.len()).then_some(Node::ReaderDir(index))
                }
                i => match DIRS.iter().position(|(d, _)| *d == i) {
                    Some(index) => Some(Node::Dir(index)),
                    None => ViewId::ALL
                        .into_iter()
                        .find(|v| reader_ino(*v) == i)
                        .map(Node::ReaderView),
                },
            };
        }
        let (slot, part) = (ino >> 8, ino & 0xff);
        if part >= DIR_PART {
            let index = usize::try_from(part - DIR_PART).ok()?;
            (index < DIRS.len()).then_some(Node::ContainerDir { slot, index })
        } else {
            let view = *ViewId::ALL.get(usize::try_from(part).ok()?)?;
            Some(Node::ContainerView { slot, view })
        }
    }

    /// The node id.
    pub fn ino(self) -> u64 {
        match self {
            Node::Dir(i) => DIRS.get(i).map_or(1, |d| d.0),
            Node::ByPid => BY_PID,
            Node::Slots => SLOTS,
            Node::ReaderDir(i) => READER_BASE + i as u64,
            Node::Link(v) => LINK_BASE + v.index() as u64,
            Node::ReaderView(v) => reader_ino(v),
            Node::ContainerView { slot, view } => slot << 8 | view.index() as u64,
            Node::ContainerDir { slot, index } => slot << 8 | (DIR_PART + index as u64),
            Node::Host(ino) => ino,
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(self) -> bool {
        matches!(
            self,
            Node::Dir(_)
                | Node::ByPid
                | Node::Slots
                | Node::ReaderDir(_)
                | Node::ContainerDir { .. }
        )
    }
}

/// Where the link of `view` points for the container in `slot` (`None`: the per-reader file),
/// relative to the link's directory: `../.c/<slot>/proc/meminfo`.
pub fn link_target(view: ViewId, slot: Option<u64>) -> String {
    let up = "../".repeat(view.dir().split('/').count());
    match slot {
        Some(s) => format!("{up}{SLOTS_NAME}/{s}/{}", view.path()),
        None => format!("{up}{READER_NAME}/{}", view.path()),
    }
}

/// The path of static directory `index`.
pub fn dir_path(index: usize) -> &'static str {
    DIRS.get(index).map_or("", |d| d.1)
}

/// The static directory `name` below directory `index`.
pub fn child_dir(index: usize, name: &[u8]) -> Option<usize> {
    let parent = dir_path(index);
    DIRS.iter().position(|(_, p)| {
        let (dir, base) = p.rsplit_once('/').unwrap_or(("", p));
        !p.is_empty() && dir == parent && base.as_bytes() == name
    })
}

/// The view `name` in directory `index`.
pub fn child_view(index: usize, name: &[u8]) -> Option<ViewId> {
    let dir = dir_path(index);
    ViewId::ALL
        .into_iter()
        .find(|v| v.dir() == dir && v.name().as_bytes() == name)
}

/// An entry of a directory listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A subdirectory (index into [`DIRS`]).
    Dir(usize),
    /// A view file.
    View(ViewId),
}

impl Entry {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Entry::Dir(i) => dir_path(i).rsplit('/').next().unwrap_or_default(),
            Entry::View(v) => v.name(),
        }
    }
}

/// The entries of static directory `index`, subdirectories first, in table order.
pub fn children(index: usize) -> impl Iterator<Item = Entry> {
    let dir = dir_path(index);
    let subdirs = DIRS
        .iter()
        .enumerate()
        .filter(move |(_, (_, p))| !p.is_empty() && p.rsplit_once('/').map_or("", |x| x.0) == dir)
        .map(|(i, _)| Entry::Dir(i));
    let files = ViewId::ALL
        .into_iter()
        .filter(move |v| v.dir() == dir)
        .map(Entry::View);
    subdirs.chain(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_is_reachable_and_ids_round_trip() {
        for v in ViewId::ALL {
            let mut dir = 0;
            let parts: Vec<&str> = v.path().split('/').collect();
            for p in &parts[..parts.len() - 1] {
                dir = child_dir(dir, p.as_bytes()).unwrap_or_else(|| panic!("{p}"));
            }
            assert_eq!(child_view(dir, v.name().as_bytes()), Some(v));
            assert!(children(dir).any(|e| e == Entry::View(v)));
            for n in [
                Node::Link(v),
                Node::ReaderView(v),
                Node::ContainerView { slot: 3, view: v },
            ] {
                assert_eq!(Node::from_ino(n.ino()), Some(n));
            }
        }
        for i in 0..DIRS.len() {
            for n in [
                Node::ContainerDir { slot: 9, index: i },
                Node::Dir(i),
                Node::ReaderDir(i),
            ] {
                assert_eq!(Node::from_ino(n.ino()), Some(n));
            }
        }
        assert_eq!(Node::from_ino(BY_PID), Some(Node::ByPid));
        assert_eq!(Node::from_ino(SLOTS), Some(Node::Slots));
        assert_eq!(Node::from_ino(200), None);
        let mut inos: Vec<u64> = DIRS.iter().map(|d| d.0).collect();
        inos.extend([BY_PID, SLOTS]);
        inos.extend(ViewId::ALL.iter().map(|v| reader_ino(*v)));
        inos.extend(ViewId::ALL.iter().map(|v| Node::Link(*v).ino()));
        inos.extend((0..DIRS.len()).map(|i| Node::ReaderDir(i).ino()));
        let n = inos.len();
        inos.sort_unstable();
        inos.dedup();
        assert_eq!(inos.len(), n, "static ids are unique");
        assert!(inos.iter().all(|&i| i < 256));
        assert_eq!(DIRS[CPU_DIR].1, "sys/devices/system/cpu");
        let host = super::super::passthrough::HOST_BIT | 4242;
        assert_eq!(Node::from_ino(host), Some(Node::Host(host)));
        assert_eq!(Node::Host(host).ino(), host);
        // The largest slot stays clear of the host's entries.
        let last = Node::ContainerDir {
            slot: (1 << 55) - 1,
            index: DIRS.len() - 1,
        };
        assert!(!super::super::passthrough::is_host(last.ino()));
    }

    #[test]
    fn links_point_into_the_container_or_the_reader_tree() {
        assert_eq!(
            link_target(ViewId::Meminfo, Some(4294967297)),
            "../.c/4294967297/proc/meminfo"
        );
        assert_eq!(
            link_target(ViewId::CpuOnline, Some(5)),
            "../../../../.c/5/sys/devices/system/cpu/online"
        );
        assert_eq!(link_target(ViewId::Stat, None), "../.reader/proc/stat");
    }

    #[test]
    fn listings() {
        let root: Vec<&str> = children(0).map(|e| e.name()).collect();
        assert_eq!(root, ["proc", "sys"]);
        let proc: Vec<&str> = children(1).map(|e| e.name()).collect();
        assert!(proc.contains(&"meminfo") && proc.contains(&"stat"));
    }
}
