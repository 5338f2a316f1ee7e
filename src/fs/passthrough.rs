//! The host's `/sys/devices/system/cpu`, read-only, below the views tree's per-reader CPU
//! directory (`.reader/sys/devices/system/cpu`): `lscpu`, glibc and `nproc`-style code that
//! walk the `cpuN` directories see the reader's CPUs, with every other entry (`kernel_max`,
//! `cpufreq/`, `vulnerabilities/`, each CPU's `topology/` and `cache/`) as the host has it.
//!
//! Node ids are [`HOST_BIT`] | the host's inode number: sysfs numbers are stable while the
//! kernel runs, so a new worker (after an upgrade or a crash) answers for nodes the kernel got
//! from an older one; it finds their paths again with one walk of the tree. Every passed-through
//! entry has exactly one parent in the views tree (a directory with two would be one inode
//! under two dentries, which the kernel refuses), which is why only the per-reader directory
//! has them, not each container's.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where the host's CPU directory is.
pub const HOST_CPU_DIR: &str = "/sys/devices/system/cpu";

/// Node ids of passed-through entries have this bit set (slots never reach it: see
/// `registry.rs`).
pub const HOST_BIT: u64 = 1 << 63;

/// How deep and how large a walk for lost node ids goes (the host's tree is 4 levels deep and
/// has about 100 entries per CPU).
const WALK_DEPTH: usize = 8;
const WALK_ENTRIES: usize = 1 << 20;

/// One entry of a listing: node id, name, `DT_*` type.
pub type Listed = (u64, Vec<u8>, u32);

/// The host tree and the paths of the node ids handed out from it.
#[derive(Debug)]
pub struct HostTree {
    root: PathBuf,
    /// Node id -> path relative to `root`.
    paths: Mutex<HashMap<u64, PathBuf>>,
}

/// Whether `ino` names a passed-through entry.
pub fn is_host(ino: u64) -> bool {
    ino & HOST_BIT != 0
}

/// The CPU number a `cpuN` entry of the CPU directory names (`cpufreq`, `cpuidle`: none).
pub fn cpu_number(name: &[u8]) -> Option<usize> {
    let digits = name.strip_prefix(b"cpu")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 6 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn node_of(meta: &Metadata) -> Option<u64> {
    (meta.ino() & HOST_BIT == 0).then_some(meta.ino() | HOST_BIT)
}

fn dtype(t: std::fs::FileType) -> u32 {
    u32::from(if t.is_dir() {
        libc::DT_DIR
    } else if t.is_symlink() {
        libc::DT_LNK
    } else if t.is_file() {
        libc::DT_REG
    } else if t.is_char_device() {
        libc::DT_CHR
    } else {
        libc::DT_UNKNOWN
    })
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl HostTree {
    /// The tree at `root` (the host's [`HOST_CPU_DIR`]; a fixture in tests).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            paths: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, PathBuf>> {
        self.paths.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The path of `node` below the root (`None`: the root itself).
    fn rel(&self, node: Option<u64>) -> io::Result<PathBuf> {
        let Some(node) = node else {
            return Ok(PathBuf::new());
        };
        if let Some(p) = self.lock().get(&node) {
            return Ok(p.clone());
        }
        // A node an earlier worker handed out: find every path again, once.
        self.walk();
        self.lock().get(&node).cloned().ok_or_else(enoent)
    }

    fn walk(&self) {
        let mut found = HashMap::new();
        let mut todo = vec![(PathBuf::new(), 0)];
        while let Some((dir, depth)) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(self.root.join(&dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let rel = dir.join(e.file_name());
                let Ok(meta) = e.metadata() else { continue };
                if let Some(node) = node_of(&meta) {
                    if meta.is_dir() && depth + 1 < WALK_DEPTH {
                        todo.push((rel.clone(), depth + 1));
                    }
                    found.insert(node, rel);
                }
                if found.len() >= WALK_ENTRIES {
                    break;
                }
            }
        }
        tracing::debug!(
            entries = found.len(),
            "host CPU tree walked for lost node ids"
        );
        self.lock().extend(found);
    }

    /// `name` in directory `parent` (`None`: the root): its node id and attributes.
    pub fn lookup(&self, parent: Option<u64>, name: &[u8]) -> io::Result<(u64, Metadata)> {
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return Err(enoent());
        }
        let rel = self.rel(parent)?.join(OsStr::from_bytes(name));
        let meta = std::fs::symlink_metadata(self.root.join(&rel))?;
        let node = node_of(&meta).ok_or_else(enoent)?;
        self.lock().insert(node, rel);
        Ok((node, meta))
    }

    /// The attributes of `node`.
    pub fn metadata(&self, node: u64) -> io::Result<Metadata> {
        let meta = std::fs::symlink_metadata(self.root.join(self.rel(Some(node))?))?;
        // The path now names another file (a CPU unplugged and plugged back): not this node.
        if node_of(&meta) != Some(node) {
            return Err(enoent());
        }
        Ok(meta)
    }

    /// Checks that `node` is a file this process can read (sysfs refuses reads of write-only
    /// attributes at open, with EACCES; so does this).
    pub fn check_readable(&self, node: u64) -> io::Result<()> {
        self.open(node).map(drop)
    }

    fn open(&self, node: u64) -> io::Result<File> {
        let path = self.root.join(self.rel(Some(node))?);
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    }

    /// Up to `size` bytes of `node` from `offset`. A sysfs attribute is produced whole at
    /// each open, so each read opens it afresh: no handle to keep, none to leak.
    pub fn read(&self, node: u64, offset: u64, size: u32, out: &mut Vec<u8>) -> io::Result<()> {
        let f = self.open(node)?;
        out.clear();
        out.resize(size as usize, 0);
        let n = f.read_at(out, offset)?;
        out.truncate(n);
        Ok(())
    }

    /// Where symbolic link `node` points, as the host has it (`../../../bus/cpu`).
    pub fn readlink(&self, node: u64) -> io::Result<Vec<u8>> {
        let target = std::fs::read_link(self.root.join(self.rel(Some(node))?))?;
        Ok(target.into_os_string().into_vec())
    }

    /// The entries of directory `node` (`None`: the root), sorted by name.
    pub fn list(&self, node: Option<u64>) -> io::Result<Vec<Listed>> {
        let rel = self.rel(node)?;
        let mut out = Vec::new();
        let mut known = Vec::new();
        for e in std::fs::read_dir(self.root.join(&rel))?.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let Some(ino) = node_of(&meta) else { continue };
            known.push((ino, rel.join(e.file_name())));
            out.push((ino, e.file_name().into_vec(), dtype(meta.file_type())));
        }
        self.lock().extend(known);
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }

    /// The root, for messages.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, HostTree) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for cpu in ["cpu0", "cpu1", "cpu2"] {
            std::fs::create_dir_all(r.join(cpu).join("topology")).unwrap();
            std::fs::write(
                r.join(cpu).join("topology/core_id"),
                format!("{}\n", &cpu[3..]),
            )
            .unwrap();
            std::os::unix::fs::symlink("../../../bus/cpu", r.join(cpu).join("subsystem")).unwrap();
        }
        std::fs::create_dir_all(r.join("cpufreq")).unwrap();
        std::fs::write(r.join("kernel_max"), "8191\n").unwrap();
        let t = HostTree::new(r);
        (d, t)
    }

    #[test]
    fn cpu_numbers() {
        assert_eq!(cpu_number(b"cpu0"), Some(0));
        assert_eq!(cpu_number(b"cpu127"), Some(127));
        for n in [&b"cpufreq"[..], b"cpuidle", b"cpu", b"cpu1a", b"online"] {
            assert_eq!(cpu_number(n), None, "{n:?}");
        }
    }

    #[test]
    fn lookups_reads_links_and_listings() {
        let (_d, t) = fixture();
        let names: Vec<Vec<u8>> = t.list(None).unwrap().into_iter().map(|e| e.1).collect();
        assert_eq!(
            names,
            [&b"cpu0"[..], b"cpu1", b"cpu2", b"cpufreq", b"kernel_max"]
        );
        let (cpu1, meta) = t.lookup(None, b"cpu1").unwrap();
        assert!(is_host(cpu1) && meta.is_dir());
        let (topo, _) = t.lookup(Some(cpu1), b"topology").unwrap();
        let (core, _) = t.lookup(Some(topo), b"core_id").unwrap();
        let mut out = Vec::new();
        t.read(core, 0, 4096, &mut out).unwrap();
        assert_eq!(out, b"1\n");
        t.read(core, 1, 4096, &mut out).unwrap();
        assert_eq!(out, b"\n");
        let (link, meta) = t.lookup(Some(cpu1), b"subsystem").unwrap();
        assert!(meta.file_type().is_symlink());
        assert_eq!(t.readlink(link).unwrap(), b"../../../bus/cpu");
        for bad in [&b".."[..], b".", b"", b"a/b", b"nope"] {
            assert!(t.lookup(Some(cpu1), bad).is_err(), "{bad:?}");
        }
        // A symbolic link is not followed at open.
        assert!(t.read(link, 0, 10, &mut out).is_err());
    }

    #[test]
    fn a_new_worker_finds_nodes_an_older_one_handed_out() {
        let (d, t) = fixture();
        let (cpu2, _) = t.lookup(None, b"cpu2").unwrap();
        let (topo, _) = t.lookup(Some(cpu2), b"topology").unwrap();
        let (core, _) = t.lookup(Some(topo), b"core_id").unwrap();
        let fresh = HostTree::new(d.path());
        let mut out = Vec::new();
        fresh.read(core, 0, 100, &mut out).unwrap();
        assert_eq!(out, b"2\n");
        assert!(fresh.metadata(topo).unwrap().is_dir());
        assert_eq!(
            fresh.metadata(HOST_BIT | 1).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }
}
