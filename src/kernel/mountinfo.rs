//! Finds the host's cgroup hierarchies in `/proc/self/mountinfo`: v1 controllers mounted one per
//! hierarchy or co-mounted (`cpu,cpuacct`), named hierarchies (`name=systemd`), the cgroup2
//! unified mount, and both at once on hybrid hosts.
//!
//! Read once at start; the daemon does not follow later cgroup mounts.

use std::path::{Path, PathBuf};

/// A cgroup v1 hierarchy: which controllers it carries and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// Controllers from the super options, e.g. `["cpu", "cpuacct"]` or `["name=systemd"]`.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted, as mountinfo says (not yet joined to a test root).
    pub mount_point: PathBuf,
    /// Which cgroup of the hierarchy appears at the mount point (`/` unless bind-mounted).
    pub root: PathBuf,
}

/// The cgroup2 unified mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Mount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Which cgroup appears at the mount point.
    pub root: PathBuf,
}

/// Every cgroup mount mountinfo lists, first mount of each hierarchy only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    /// v1 hierarchies.
    pub v1: Vec<V1Mount>,
    /// The unified hierarchy, if mounted.
    pub v2: Option<V2Mount>,
}

/// Parses mountinfo text. Lines that are not cgroup mounts, or are malformed, are skipped:
/// a line we cannot read cannot be a hierarchy we could use.
pub fn parse(text: &str) -> Mounts {
    let mut mounts = Mounts::default();
    for line in text.lines() {
        let Some(m) = parse_line(line) else { continue };
        match m.fstype {
            "cgroup" => {
                let controllers: Vec<String> = m
                    .super_opts
                    .split(',')
                    .filter(|o| is_controller_opt(o))
                    .map(str::to_owned)
                    .collect();
                let dup = mounts.v1.iter().any(|h| h.controllers == controllers);
                if !dup && !controllers.is_empty() {
                    mounts.v1.push(V1Mount {
                        controllers,
                        mount_point: unescape(m.mount_point),
                        root: unescape(m.root),
                    });
                }
            }
            "cgroup2" if mounts.v2.is_none() => {
                mounts.v2 = Some(V2Mount {
                    mount_point: unescape(m.mount_point),
                    root: unescape(m.root),
                });
            }
            _ => {}
        }
    }
    mounts
}

struct Line<'a> {
    root: &'a str,
    mount_point: &'a str,
    fstype: &'a str,
    super_opts: &'a str,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let (pre, post) = line.split_once(" - ")?;
    let mut pre = pre.split(' ');
    let _id = pre.next()?;
    let _parent = pre.next()?;
    let _dev = pre.next()?;
    let root = pre.next()?;
    let mount_point = pre.next()?;
    let mut post = post.split(' ');
    let fstype = post.next()?;
    let _source = post.next()?;
    let super_opts = post.next()?;
    Some(Line {
        root,
        mount_point,
        fstype,
        super_opts,
    })
}

/// Super options that are not controllers: generic mount flags and v1 hierarchy options.
fn is_controller_opt(opt: &str) -> bool {
    !matches!(
        opt,
        "rw" | "ro" | "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode" | ""
    ) && !opt.starts_with("release_agent=")
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
pub fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = (u32::from(oct[0] - b'0') << 6)
                    | (u32::from(oct[1] - b'0') << 3)
                    | u32::from(oct[2] - b'0');
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Joins an absolute path from the host's view (a mount point) under `fs_root`, so tests can
/// place a whole fake `/sys/fs/cgroup` inside a temp dir.
pub fn under(fs_root: &Path, abs: &Path) -> PathBuf {
    fs_root.join(abs.strip_prefix("/").unwrap_or(abs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_MACHINE: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn separate_v1_controllers_and_hybrid() {
        let m = parse(DEV_MACHINE);
        assert_eq!(m.v1.len(), 4);
        assert_eq!(m.v1[0].controllers, ["cpu"]);
        assert_eq!(m.v1[1].controllers, ["cpuacct"]);
        assert_eq!(m.v1[3].controllers, ["name=systemd"]);
        assert_eq!(
            m.v2.unwrap().mount_point,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn comounted_and_optional_fields() {
        let text = "25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
                    26 20 0:23 / /sys/fs/cgroup/cpuset rw shared:10 master:3 - cgroup cgroup rw,cpuset,clone_children\n";
        let m = parse(text);
        assert_eq!(m.v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            m.v1[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(m.v1[1].controllers, ["cpuset"]);
        assert!(m.v2.is_none());
    }

    #[test]
    fn pure_v2_and_escapes() {
        let text = "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n\
                    31 24 0:27 /a\\040b /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n";
        let m = parse(text);
        let v2 = m.v2.unwrap();
        assert_eq!(v2.mount_point, PathBuf::from("/sys/fs/cgroup"));
        assert!(m.v1.is_empty());
        assert_eq!(
            unescape("/mnt/my\\040cg\\134x"),
            PathBuf::from("/mnt/my cg\\x")
        );
        assert_eq!(unescape("trailing\\04"), PathBuf::from("trailing\\04"));
        assert_eq!(unescape("\\777"), PathBuf::from("\\777"));
    }

    #[test]
    fn garbage_is_skipped() {
        let m = parse("garbage\n\n1 2 3\n - cgroup\n");
        assert_eq!(m, Mounts::default());
    }
}
