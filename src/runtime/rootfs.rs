//! Building the container's root, run by the container's init in its new mount namespace:
//! the root (a bind of the host's `/` or of `--rootfs`, or an overlay over it), a fresh `/proc`,
//! a read-only `/sys`, the container's own cgroups at `/sys/fs/cgroup`, `-v` volumes and vproc's
//! views; then `pivot_root` into it.
//!
//! Order matters: `/proc` must be mounted by a process inside the new pid namespace (this one),
//! and the views go on top of the fresh `/proc`, so they come after it.

use super::{Error, RunConfig};
use crate::kernel::mountinfo::Mounts;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use vproc_mount::OpenView;

/// Paths the init needs, prepared by the parent on the host.
#[derive(Debug, Clone)]
pub struct Scratch {
    /// An empty directory where the root is assembled.
    pub root: PathBuf,
    /// An empty directory for the overlay's tmpfs (upper and work dirs).
    pub overlay: PathBuf,
}

const NONE: Option<&str> = None;

fn mnt(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &'static str,
) -> Result<(), Error> {
    mount(src, target, fstype, flags, data).map_err(|e| Error::io(what, target, e.into()))
}

fn bind(src: &Path, target: &Path, read_only: bool) -> Result<(), Error> {
    mount(
        Some(src),
        target,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .map_err(|e| Error::io("bind-mounting onto", target, e.into()))?;
    if read_only {
        mnt(
            None,
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
            "making read-only",
        )?;
    }
    Ok(())
}

/// Makes `path` exist as a directory inside a root we may write to (a `--rootfs` or overlay);
/// on the host's own root nothing is created.
fn ensure_dir(path: &Path, may_create: bool) -> Result<bool, Error> {
    if path.is_dir() {
        return Ok(true);
    }
    if !may_create {
        return Ok(false);
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io("creating", path, e))?;
    Ok(true)
}

/// Assembles the root and pivots into it.
pub fn build(
    cfg: &RunConfig,
    scratch: &Scratch,
    cgroups: &Mounts,
    views: impl FnOnce() -> Result<Vec<OpenView>, Error>,
) -> Result<(), Error> {
    // Nothing mounted from here on may propagate back to the host.
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
        "making private",
    )?;
    let root = &scratch.root;
    let source = cfg.rootfs.clone().unwrap_or_else(|| PathBuf::from("/"));
    if cfg.overlay {
        let o = &scratch.overlay;
        mnt(
            Some("tmpfs"),
            o,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=700"),
            "mounting the overlay's tmpfs on",
        )?;
        let (upper, work) = (o.join("upper"), o.join("work"));
        for d in [&upper, &work] {
            std::fs::create_dir(d).map_err(|e| Error::io("creating", d, e))?;
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            source.display(),
            upper.display(),
            work.display()
        );
        mnt(
            Some("overlay"),
            root,
            Some("overlay"),
            MsFlags::empty(),
            Some(&data),
            "mounting the overlay on",
        )?;
    } else {
        bind(&source, root, false)?;
    }
    // A bind of the host's / brought the host's /proc and /sys trees (the host's cgroup mounts
    // included, which a JVM would find first in mountinfo): detach them before mounting the
    // container's own. EINVAL means nothing was mounted there.
    for d in ["proc", "sys"] {
        match umount2(&root.join(d), MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(Error::io("detaching the host's", root.join(d), e.into())),
        }
    }
    let may_create = cfg.rootfs.is_some();
    let proc_dir = root.join("proc");
    if ensure_dir(&proc_dir, may_create)? {
        mnt(
            Some("proc"),
            &proc_dir,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
            "mounting proc on",
        )?;
    }
    let sys_dir = root.join("sys");
    if ensure_dir(&sys_dir, may_create)? {
        let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mnt(
            Some("sysfs"),
            &sys_dir,
            Some("sysfs"),
            ro,
            None,
            "mounting sysfs on",
        )?;
        mount_cgroups(&sys_dir.join("fs/cgroup"), cgroups)?;
    }
    if cfg.rootfs.is_some() {
        let dev = root.join("dev");
        if ensure_dir(&dev, true)? {
            bind(Path::new("/dev"), &dev, false)?;
        }
    }
    for v in &cfg.volumes {
        let target = root.join(v.container.strip_prefix("/").unwrap_or(&v.container));
        if !target.exists() {
            if v.host.is_dir() {
                ensure_dir(&target, may_create)?;
            } else if may_create {
                if let Some(p) = target.parent() {
                    ensure_dir(p, true)?;
                }
                std::fs::write(&target, b"").map_err(|e| Error::io("creating", &target, e))?;
            }
        }
        if !target.exists() {
            return Err(Error::io(
                "the volume target does not exist in the container:",
                &v.container,
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        bind(&v.host, &target, v.read_only)?;
    }
    let views = views()?;
    if !views.is_empty() {
        vproc_mount::attach_views(&views, root)?;
    }
    std::env::set_current_dir(root).map_err(|e| Error::io("entering", root, e))?;
    // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the new.
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => umount2(".", MntFlags::MNT_DETACH)
            .map_err(|e| Error::io("detaching the old root at", "/", e.into()))?,
        // The host runs from an initramfs (rootfs), which cannot be pivoted away from: move the
        // new root over / and chroot into it instead (runc's no-pivot path).
        Err(nix::errno::Errno::EINVAL) => {
            mnt(
                Some("."),
                Path::new("/"),
                None,
                MsFlags::MS_MOVE,
                None,
                "moving the root onto /",
            )?;
            nix::unistd::chroot(".").map_err(|e| Error::io("chroot into", root, e.into()))?;
        }
        Err(e) => return Err(Error::io("pivot_root into", root, e.into())),
    }
    std::env::set_current_dir("/").map_err(|e| Error::io("entering", "/", e))?;
    Ok(())
}

/// The container's cgroups, seen from its cgroup namespace (its own cgroup as the root), where
/// a JVM or systemd looks for them; read-only, as Docker mounts them.
fn mount_cgroups(at: &Path, cgroups: &Mounts) -> Result<(), Error> {
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !at.is_dir() {
        return Ok(());
    }
    if cgroups.v1.is_empty() {
        if cgroups.v2.is_some() {
            mnt(
                Some("cgroup2"),
                at,
                Some("cgroup2"),
                ro,
                None,
                "mounting cgroup2 on",
            )?;
        }
        return Ok(());
    }
    mnt(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
        "mounting tmpfs on",
    )?;
    for m in &cgroups.v1 {
        let name = m
            .mount_point
            .file_name()
            .map(|n| n.to_owned())
            .unwrap_or_else(|| m.controllers.join(",").into());
        let dir = at.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let opts = m.controllers.join(",");
        mnt(
            Some("cgroup"),
            &dir,
            Some("cgroup"),
            ro,
            Some(&opts),
            "mounting a cgroup hierarchy on",
        )?;
    }
    if let Some(v2) = &cgroups.v2 {
        let name = v2
            .mount_point
            .file_name()
            .map(|n| n.to_owned())
            .unwrap_or_else(|| "unified".into());
        let dir = at.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        mnt(
            Some("cgroup2"),
            &dir,
            Some("cgroup2"),
            ro,
            None,
            "mounting cgroup2 on",
        )?;
    }
    mnt(
        None,
        at,
        None,
        MsFlags::MS_REMOUNT | ro,
        None,
        "making read-only",
    )?;
    Ok(())
}
