//! Which FUSE connections (by device number, `major:minor` in mountinfo) a source has served:
//! a daemon appends its trees' devices to `/run/vproc/serve/<source>.devices` each time it
//! mounts afresh, so `remount --all` repairs only the dead views that came from this source,
//! and never needs to ask a view whether it is alive (a `statfs` on a mount whose connection
//! is held but not served would wait forever). The current devices are read from this
//! namespace's mount table, not from the mounts themselves.

use std::path::{Path, PathBuf};

/// How many past devices are kept.
const KEEP: usize = 64;

/// A device number as mountinfo shows it (`0:53`).
pub type Device = String;

/// The state files of a source live next to the daemon's: `/run/vproc/serve/<name>.<ext>`,
/// `<name>` being the path with every character but `[A-Za-z0-9.-]` turned into `_`.
pub fn state_file(source: &Path, ext: &str) -> PathBuf {
    let name: String = source
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("/run/vproc/serve").join(format!("{name}.{ext}"))
}

/// The devices of the FUSE mounts at `source` and `source/by-pid` in `mountinfo`.
pub fn current(mountinfo: &str, source: &Path) -> Vec<Device> {
    let paths = [
        source.to_string_lossy().into_owned(),
        source.join(crate::BY_PID).to_string_lossy().into_owned(),
    ];
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next()?;
            let at = f.get(4)?.replace("\\040", " ");
            (fstype.starts_with("fuse") && paths.contains(&at))
                .then(|| f.get(2).map(|d| (*d).to_owned()))?
        })
        .collect()
}

/// The devices `source` has served, oldest first (`None`: no record, an older daemon).
pub fn recorded(source: &Path) -> Option<Vec<Device>> {
    let text = std::fs::read_to_string(state_file(source, "devices")).ok()?;
    Some(text.lines().map(str::to_owned).collect())
}

/// Records the devices mounted at `source` now (call after mounting afresh).
pub fn record(source: &Path) -> std::io::Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut all = recorded(source).unwrap_or_default();
    for d in current(&mountinfo, source) {
        if !all.contains(&d) {
            all.push(d);
        }
    }
    let skip = all.len().saturating_sub(KEEP);
    let text: String = all[skip..].iter().map(|d| format!("{d}\n")).collect();
    let path = state_file(source, "devices");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("devices.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_devices_of_a_source() {
        let mi = "\
40 27 0:53 / /var/lib/vproc ro,nosuid - fuse.vproc vproc rw
41 40 0:54 / /var/lib/vproc/by-pid ro,nosuid - fuse.vproc-containers vproc-containers rw
42 27 0:55 / /var/lib/vproc2 ro - fuse.vproc vproc rw
43 27 8:1 / /var/lib/vproc/x rw - ext4 /dev/sda1 rw
";
        assert_eq!(current(mi, Path::new("/var/lib/vproc")), ["0:53", "0:54"]);
        assert!(current(mi, Path::new("/nothing")).is_empty());
        assert_eq!(
            state_file(Path::new("/var/lib/vproc"), "devices"),
            Path::new("/run/vproc/serve/_var_lib_vproc.devices")
        );
    }
}
