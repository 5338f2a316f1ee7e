//! The one list of what the mount contains: directories and views, their inode numbers and
//! attributes. Adding a file to vproc means adding a row here (and a view).

use crate::render::ViewId;

/// Inode of the mount's root directory (FUSE's fixed root id).
pub const ROOT: u64 = 1;

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A rendered file.
    View(ViewId),
}

/// One entry of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Inode number.
    pub ino: u64,
    /// Parent directory's inode (the root is its own parent).
    pub parent: u64,
    /// Name in the parent.
    pub name: &'static str,
    /// Directory or view.
    pub kind: Kind,
}

const fn dir(ino: u64, parent: u64, name: &'static str) -> Node {
    Node {
        ino,
        parent,
        name,
        kind: Kind::Dir,
    }
}

const fn view(ino: u64, parent: u64, name: &'static str, v: ViewId) -> Node {
    Node {
        ino,
        parent,
        name,
        kind: Kind::View(v),
    }
}

const PROC: u64 = 2;
const SYS: u64 = 3;
const DEVICES: u64 = 4;
const SYSTEM: u64 = 5;
const CPU: u64 = 6;

/// Every node, directories first; inode numbers never change between versions, so a live
/// upgrade can keep the kernel's view of them.
pub const NODES: &[Node] = &[
    dir(ROOT, ROOT, ""),
    dir(PROC, ROOT, "proc"),
    dir(SYS, ROOT, "sys"),
    dir(DEVICES, SYS, "devices"),
    dir(SYSTEM, DEVICES, "system"),
    dir(CPU, SYSTEM, "cpu"),
    view(10, PROC, "cpuinfo", ViewId::Cpuinfo),
    view(11, PROC, "diskstats", ViewId::Diskstats),
    view(12, PROC, "loadavg", ViewId::Loadavg),
    view(13, PROC, "meminfo", ViewId::Meminfo),
    view(14, PROC, "stat", ViewId::Stat),
    view(15, PROC, "swaps", ViewId::Swaps),
    view(16, PROC, "uptime", ViewId::Uptime),
    view(17, CPU, "online", ViewId::CpuOnline),
];

/// The node with inode `ino`.
pub fn node(ino: u64) -> Option<&'static Node> {
    NODES.iter().find(|n| n.ino == ino)
}

/// The child `name` of directory `parent`.
pub fn child(parent: u64, name: &[u8]) -> Option<&'static Node> {
    NODES
        .iter()
        .find(|n| n.parent == parent && n.ino != ROOT && n.name.as_bytes() == name)
}

/// The children of directory `parent`, in table order.
pub fn children(parent: u64) -> impl Iterator<Item = &'static Node> {
    NODES
        .iter()
        .filter(move |n| n.parent == parent && n.ino != ROOT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_one_node_at_its_path() {
        for v in ViewId::ALL {
            let mut ino = ROOT;
            for part in v.path().split('/') {
                ino = child(ino, part.as_bytes())
                    .unwrap_or_else(|| panic!("{part}"))
                    .ino;
            }
            assert_eq!(node(ino).unwrap().kind, Kind::View(v));
        }
        let mut inos: Vec<u64> = NODES.iter().map(|n| n.ino).collect();
        inos.dedup();
        assert_eq!(inos.len(), NODES.len());
    }
}
