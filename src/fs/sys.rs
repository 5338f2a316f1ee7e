//! The FUSE layer's raw system calls: cloned channels (`FUSE_DEV_IOC_CLONE`), adopting an
//! inherited `/dev/fuse` fd, and the mount API (`fsopen`, `fsconfig`, `fsmount`, `move_mount`)
//! that creates a mount detached from any tree and attaches it later, and a bounded wait for a
//! blocked signal (`sigtimedwait`, which nix lacks). All of the FUSE layer's
//! unsafe code is here, each block with the invariant it relies on.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Waits at most `timeout` for one of `set`'s signals, which the calling thread blocks;
/// `None` when none came (or another signal's handler interrupted the wait).
pub fn wait_signal(
    set: &nix::sys::signal::SigSet,
    timeout: std::time::Duration,
) -> io::Result<Option<nix::sys::signal::Signal>> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: both pointers are to live values for the call; the kernel does not keep them
    // and does not write the info argument when it is null.
    let n = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    if n >= 0 {
        return nix::sys::signal::Signal::try_from(n)
            .map(Some)
            .map_err(io::Error::from);
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => Ok(None),
        e => Err(e),
    }
}

mod ioctl {
    // FUSE_DEV_IOC_CLONE is _IOR(229, 0, uint32_t).
    nix::ioctl_read!(fuse_dev_ioc_clone, 229, 0, u32);
}

/// A new channel on the connection of `conn`: its own queue of requests being processed, so
/// each worker thread reads from its own fd.
pub fn clone_channel(conn: &File) -> io::Result<File> {
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")?;
    let mut fd = conn.as_raw_fd() as u32;
    // SAFETY: `dev` is a fresh /dev/fuse fd and `fd` a valid u32 the ioctl reads; the kernel
    // attaches `dev` to the connection of `conn`.
    unsafe { ioctl::fuse_dev_ioc_clone(dev.as_raw_fd(), &mut fd) }.map_err(io::Error::from)?;
    Ok(dev)
}

/// Takes ownership of an inherited fd after checking that it is a `/dev/fuse` device.
///
/// # Safety
/// `fd` must be an open fd that nothing else in this process owns or will close.
pub unsafe fn adopt_fuse_fd(fd: RawFd) -> io::Result<File> {
    // SAFETY: per the contract, `fd` is open and owned by no one else.
    let f = unsafe { File::from_raw_fd(fd) };
    let meta = match f.metadata() {
        Ok(m) => m,
        Err(e) => {
            // Not open after all (a manager that passed fewer fds than it said): nothing to
            // close.
            std::mem::forget(f);
            return Err(e);
        }
    };
    let is_fuse = meta.file_type().is_char_device() && {
        use std::os::unix::fs::MetadataExt;
        let rdev = meta.rdev();
        nix::sys::stat::major(rdev) == 10 && nix::sys::stat::minor(rdev) == 229
    };
    if !is_fuse {
        // Not ours to close: the caller passed a number that is not a FUSE connection.
        std::mem::forget(f);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is not /dev/fuse"),
        ));
    }
    Ok(f)
}

/// Lets `f` survive `exec` (clears `FD_CLOEXEC`).
pub fn inheritable(f: &impl AsRawFd) -> io::Result<()> {
    set_cloexec(f, false)
}

/// Sets or clears `FD_CLOEXEC` on `f`.
pub fn set_cloexec(f: &impl AsRawFd, on: bool) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: the fd is open for the duration of the call (borrowed from `f`).
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(f.as_raw_fd()) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))
        .map(|_| ())
        .map_err(io::Error::from)
}

/// Takes ownership of an inherited fd of any kind.
///
/// # Safety
/// `fd` must be an open fd that nothing else in this process owns or will close.
pub unsafe fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per the contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV`.
const MOUNT_ATTRS: libc::c_uint = 0x1 | 0x2 | 0x4;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A filesystem context (`fsopen`) being configured.
#[derive(Debug)]
pub struct FsContext(OwnedFd);

impl FsContext {
    /// `fsopen(fstype)`.
    pub fn open(fstype: &str) -> io::Result<Self> {
        let t = cstr(fstype.as_bytes())?;
        // SAFETY: `t` is a valid NUL-terminated string for the call; the kernel returns a new
        // fd or -1.
        let fd = check(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) })?;
        // SAFETY: a new fd from the kernel that nothing else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
    pub fn set(&self, key: &str, value: &str) -> io::Result<()> {
        let (k, v) = (cstr(key.as_bytes())?, cstr(value.as_bytes())?);
        // SAFETY: both strings are valid for the call; aux must be 0 for this command.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        })?;
        Ok(())
    }

    /// `fsconfig(FSCONFIG_SET_FLAG, key)`.
    pub fn flag(&self, key: &str) -> io::Result<()> {
        let k = cstr(key.as_bytes())?;
        // SAFETY: `k` is valid for the call; value and aux must be NULL/0 for this command.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                FSCONFIG_SET_FLAG,
                k.as_ptr(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        })?;
        Ok(())
    }

    /// Creates the superblock and returns a mount of it attached to no tree (read-only,
    /// nosuid, nodev).
    pub fn mount(self) -> io::Result<OwnedFd> {
        // SAFETY: plain integer arguments; NULL key and value are what CMD_CREATE takes.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        })?;
        // SAFETY: plain integer arguments; the kernel returns a new fd or -1.
        let fd = check(unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                MOUNT_ATTRS,
            )
        })?;
        // SAFETY: a new fd from the kernel that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}

/// Attaches the detached mount `mnt` at `target`.
pub fn move_mount(mnt: &OwnedFd, target: &Path) -> io::Result<()> {
    let t = cstr(target.as_os_str().as_bytes())?;
    let empty = c"";
    // SAFETY: both strings are valid for the call; `mnt` is an open mount fd.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    Ok(())
}
