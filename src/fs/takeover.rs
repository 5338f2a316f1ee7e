//! The live `/dev/fuse` connection as a plain fd that outlives processes: cloned channels,
//! inheritance across fork/exec, adoption from a predecessor or systemd's fd store, and the
//! kernel's resend of requests a dead worker had taken. All of the FUSE layer's unsafe code for
//! fds is here.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;

mod ioctl {
    // FUSE_DEV_IOC_CLONE is _IOR(229, 0, uint32_t).
    nix::ioctl_read!(fuse_dev_ioc_clone, 229, 0, u32);
}
use ioctl::fuse_dev_ioc_clone;

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
    unsafe { fuse_dev_ioc_clone(dev.as_raw_fd(), &mut fd) }.map_err(io::Error::from)?;
    Ok(dev)
}

/// Lets `f` survive `exec` (clears FD_CLOEXEC).
pub fn inheritable(f: &impl AsRawFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: the fd is open for the duration of the call (borrowed from `f`).
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(f.as_raw_fd()) };
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))
        .map(|_| ())
        .map_err(io::Error::from)
}

/// Takes ownership of an inherited fd after checking that it is a `/dev/fuse` device.
///
/// # Safety
/// `fd` must be an open fd that nothing else in this process owns or will close.
pub unsafe fn adopt_fuse_fd(fd: RawFd) -> io::Result<File> {
    // SAFETY: per the contract, `fd` is open and owned by no one else.
    let f = unsafe { File::from_raw_fd(fd) };
    let meta = f.metadata()?;
    let is_fuse = meta.file_type().is_char_device() && {
        use std::os::unix::fs::MetadataExt;
        let rdev = meta.rdev();
        nix::sys::stat::major(rdev) == 10 && nix::sys::stat::minor(rdev) == 229
    };
    if !is_fuse {
        std::mem::forget(f);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is not /dev/fuse"),
        ));
    }
    Ok(f)
}

/// Asks the kernel to queue again every request that was read but not answered
/// (`FUSE_NOTIFY_RESEND`, Linux 6.9+), so a new worker answers what a dead one had taken.
/// Older kernels refuse it; their callers of those requests get an error instead.
pub fn resend(conn: &File) -> io::Result<()> {
    const FUSE_NOTIFY_RESEND: i32 = 7;
    let mut msg = [0u8; 16];
    msg[..4].copy_from_slice(&16u32.to_ne_bytes());
    msg[4..8].copy_from_slice(&FUSE_NOTIFY_RESEND.to_ne_bytes());
    nix::unistd::write(conn, &msg)
        .map(|_| ())
        .map_err(io::Error::from)
}
