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

/// An all-zero `sysinfo`.
pub fn zeroed_sysinfo() -> libc::sysinfo {
    // SAFETY: all-zero bytes are a valid `sysinfo` (plain integers and padding).
    unsafe { std::mem::zeroed() }
}

/// `sysinfo(2)` of this process (the host's figures, for the parts a container's answer keeps).
pub fn sysinfo() -> io::Result<libc::sysinfo> {
    let mut s = zeroed_sysinfo();
    // SAFETY: `s` is a valid, writable `sysinfo` for the duration of the call.
    if unsafe { libc::sysinfo(&mut s) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s)
}

/// The seccomp filter that sends `sysinfo(2)` to a listener and lets every other call through
/// (`SECCOMP_RET_USER_NOTIF` for it, `SECCOMP_RET_ALLOW` otherwise; a call of another
/// architecture, a 32-bit one on x86-64, is let through).
fn sysinfo_filter() -> [libc::sock_filter; 6] {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // struct seccomp_data: nr at 0, arch at 4.
    [
        stmt(load, 4),
        jump(ARCH, 0, 2),
        stmt(load, 0),
        jump(libc::SYS_sysinfo as u32, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ret, libc::SECCOMP_RET_USER_NOTIF),
    ]
}

/// Installs the sysinfo filter on this thread (inherited by its children and kept across
/// exec) and returns its listener. Needs CAP_SYS_ADMIN or no_new_privs.
pub fn install_sysinfo_listener() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let filter = sysinfo_filter();
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `filter`, alive for the call; the kernel copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd, owned by no one else.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    Ok(owned)
}

/// One intercepted call: its id (for the answer), the caller's pid (in the listener's pid
/// namespace), the call number and its first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The notification id.
    pub id: u64,
    /// The calling thread's pid, 0 if it is not visible from here.
    pub pid: u32,
    /// The system call number.
    pub nr: i32,
    /// Its first argument (for sysinfo, where the struct goes).
    pub arg0: u64,
}

/// Waits for the next intercepted call on `listener`.
pub fn notif_recv(listener: &impl AsRawFd) -> io::Result<Notification> {
    // SAFETY: all-zero bytes are a valid `seccomp_notif`, which the kernel requires zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is a valid, writable `seccomp_notif` for the duration of the call.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arg0: n.data.args[0],
    })
}

/// Whether notification `id` still waits for an answer (its caller is alive and in the call):
/// checked after reading or writing its memory, since its pid may be reused once it is gone.
pub fn notif_id_valid(listener: &impl AsRawFd, id: u64) -> bool {
    // SAFETY: `id` is a valid u64 the kernel reads for the duration of the call.
    unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_ID_VALID_FIRST, &id) == 0 }
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID` as Linux 5.0 defined it (`_IOR('!', 2, u64)`). libc has the
/// corrected `_IOW` number, which kernels before 5.12 reject with EINVAL; every kernel with
/// user notification accepts this one (later ones keep it for compatibility), and a rejected
/// check would leave each caller waiting forever.
#[allow(clippy::unnecessary_cast)]
const NOTIF_ID_VALID_FIRST: libc::Ioctl = 0x8008_2102_u32 as libc::Ioctl;

/// Answers notification `id`: the call returns `val`, or fails with `error` (a positive errno)
/// when it is not 0.
pub fn notif_send(listener: &impl AsRawFd, id: u64, val: i64, error: i32) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error: -error,
        flags: 0,
    };
    // SAFETY: `resp` is a valid `seccomp_notif_resp` for the duration of the call.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes `bytes` at `addr` in process `pid` (`process_vm_writev`); how many were written.
pub fn write_process_memory(pid: u32, addr: u64, bytes: &[u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: `local` describes `bytes`, readable for the call; `remote` is an address in
    // another process, which the kernel checks (EFAULT) and never dereferences here.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The bytes of a `sysinfo` struct as the kernel lays it out for this architecture.
pub fn sysinfo_bytes(s: &libc::sysinfo) -> Vec<u8> {
    let size = std::mem::size_of::<libc::sysinfo>();
    let mut out = vec![0u8; size];
    // SAFETY: `s` is a valid `sysinfo` of `size` bytes; `out` has room for them; they do not
    // overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (s as *const libc::sysinfo).cast::<u8>(),
            out.as_mut_ptr(),
            size,
        )
    };
    out
}

/// Takes ownership of an fd this process inherited (from a service manager), if it is open.
pub fn adopt_inherited_fd(fd: std::os::fd::RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    nix::fcntl::fcntl(
        // SAFETY: only borrowed for the F_GETFD check, which fails harmlessly on a closed fd.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        nix::fcntl::FcntlArg::F_GETFD,
    )
    .ok()?;
    // SAFETY: the fd is open (checked above) and was passed to this process for it to own;
    // nothing else here has taken it.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// One message of up to `max` bytes from a unix socket, with the fds attached to it (owned,
/// close-on-exec; up to the kernel's limit of 253 per message). Zero bytes: the peer is gone.
pub fn recv_with_fds(
    conn: &impl AsRawFd,
    max: usize,
) -> io::Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut buf = vec![0u8; max];
    // SCM_MAX_FD: the most one message can carry.
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 253]);
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let n = msg.bytes;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(list) = c {
            for fd in list {
                // SAFETY: the kernel just installed these fds in this process for it.
                fds.push(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    buf.truncate(n);
    Ok((buf, fds))
}

extern "C" fn does_nothing(_: libc::c_int) {}

/// Makes `sig` interrupt blocking system calls without doing anything else: a handler that
/// returns at once, installed without `SA_RESTART` (so the call fails with EINTR).
pub fn install_noop_handler(sig: nix::sys::signal::Signal) -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(does_nothing),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, which is async-signal-safe.
    unsafe { sigaction(sig, &action) }.map(|_| ())
}
