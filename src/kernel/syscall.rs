//! The raw system calls the lower layers need and neither std nor nix wraps; all of their
//! unsafe code is here, each block with the invariant it relies on.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// `NS_GET_TGID_FROM_PIDNS`, `_IOR(0xb7, 0x7, int)` (Linux 6.8+): translates a thread-group id
/// of the namespace `nsfd` names into the caller's pid namespace.
const NS_GET_TGID_FROM_PIDNS: libc::c_ulong = 0x8004_b707;

/// The host pid (as this process sees it) of the process numbered `pid` inside the pid
/// namespace `pidns` (an open `/proc/<pid>/ns/pid`). `Err` with `ENOTTY`/`EINVAL` on kernels
/// without the ioctl, `ESRCH` if no such process exists.
pub fn tgid_in_pidns(pidns: &std::fs::File, pid: u32) -> io::Result<u32> {
    // SAFETY: `pidns` is an open fd for the duration of the call; this request reads no memory
    // from its argument, which the kernel takes as the pid value itself.
    let r = unsafe {
        libc::ioctl(
            pidns.as_raw_fd(),
            NS_GET_TGID_FROM_PIDNS as _,
            libc::c_ulong::from(pid),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
}

/// `fork(2)`: `Ok(None)` in the child, `Ok(Some(pid))` in the parent. Callers are
/// single-threaded (checked where they start), so the child's copy of the address space holds
/// no lock another thread held.
pub fn fork() -> nix::Result<Option<nix::unistd::Pid>> {
    // SAFETY: the caller is single-threaded (see above), and the child only calls
    // async-signal-safe functions or execs before touching shared state.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => Ok(None),
        nix::unistd::ForkResult::Parent { child } => Ok(Some(child)),
    }
}
