//! Walks over a cgroup and its ancestors, which make limits hierarchical: the tightest limit of
//! any level applies, and a cpuset is inherited from the nearest level that sets one.

use super::hierarchy::CgroupDir;
use super::{CpuSet, Result};
use crate::kernel::read::{parsed, read_into};
use crate::kernel::ParseError;
use std::path::Path;

/// The smallest value of `name` over the cgroup and its ancestors, `None` if no level sets
/// one.
pub(crate) fn min_over_ancestors(
    d: &CgroupDir,
    name: &str,
    buf: &mut Vec<u8>,
    parse: fn(&[u8]) -> std::result::Result<Option<u64>, ParseError>,
) -> Result<Option<u64>> {
    tightest_over_ancestors(
        d,
        name,
        buf,
        |_, path, bytes| Ok(parsed(path, parse(bytes))?),
        |a, b| a < b,
    )
}

/// The tightest value of `name` over the cgroup and its ancestors, `None` if no level sets
/// one. The cgroup's own file must exist; an ancestor without it (a v2 root) is skipped.
/// `level` turns one level's file (its directory, path and bytes) into the value it sets.
pub(crate) fn tightest_over_ancestors<T>(
    d: &CgroupDir,
    name: &str,
    buf: &mut Vec<u8>,
    mut level: impl FnMut(&Path, &Path, &[u8]) -> Result<Option<T>>,
    tighter: impl Fn(&T, &T) -> bool,
) -> Result<Option<T>> {
    let mut best: Option<T> = None;
    for (depth, dir) in d.self_and_ancestors().enumerate() {
        let path = dir.join(name);
        match read_into(&path, buf) {
            Ok(()) => {}
            Err(e) if depth > 0 && e.is_missing() => continue,
            Err(e) => return Err(e.into()),
        }
        if let Some(v) = level(dir, &path, buf)? {
            if best.as_ref().is_none_or(|b| tighter(&v, b)) {
                best = Some(v);
            }
        }
    }
    Ok(best)
}

/// The first non-empty CPU list among `names`, in the cgroup or else its nearest ancestor.
/// The cgroup itself must exist: a deleted cgroup must not borrow its parent's cpuset.
pub(crate) fn nearest_cpuset(
    d: &CgroupDir,
    names: &[&str],
    buf: &mut Vec<u8>,
) -> Result<Option<CpuSet>> {
    if let Err(source) = std::fs::metadata(&d.dir) {
        return Err(crate::kernel::Error::Read {
            path: d.dir.clone(),
            source,
        }
        .into());
    }
    for dir in d.self_and_ancestors() {
        for name in names {
            let path = dir.join(name);
            match read_into(&path, buf) {
                Ok(()) => {}
                Err(e) if e.is_missing() => continue,
                Err(e) => return Err(e.into()),
            }
            let set = parsed(&path, CpuSet::parse(buf))?;
            if !set.is_empty() {
                return Ok(Some(set));
            }
        }
    }
    Ok(None)
}
