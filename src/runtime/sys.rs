//! The runtime's raw system calls (`clone` into new namespaces, bringing up loopback; `fork` is
//! the bottom layer's);
//! all of its unsafe code is here.
#![allow(unsafe_code)]

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::io;

/// Starts `f` as a new process in new namespaces (`clone` without `CLONE_VM`: the child gets a
/// copy of the address space, as with fork); the child exits with `f`'s return value.
pub fn clone_process(f: &mut dyn FnMut() -> isize, flags: CloneFlags) -> nix::Result<Pid> {
    extern "C" fn trampoline(data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `data` points at the `&mut dyn FnMut` below, in the child's copy of the
        // parent's stack, which stays valid because the child never returns into that frame.
        let f = unsafe { &mut *(data as *mut &mut dyn FnMut() -> isize) };
        let code = f();
        // SAFETY: _exit ends the child without running the parent's atexit handlers twice.
        unsafe { libc::_exit(code as libc::c_int) }
    }
    let mut stack = vec![0u8; 1 << 20];
    // The stack grows down: pass its top, 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let mut f = f;
    // SAFETY: the caller is single-threaded (checked by `run`), so the child's copy of the
    // address space has no lock held by another thread; the stack outlives the call in the
    // parent and is the child's own copy in the child; SIGCHLD makes the child waitable.
    let pid = unsafe {
        libc::clone(
            trampoline,
            top as *mut libc::c_void,
            flags.bits() | libc::SIGCHLD,
            &mut f as *mut &mut dyn FnMut() -> isize as *mut libc::c_void,
        )
    };
    drop(stack);
    nix::errno::Errno::result(pid).map(Pid::from_raw)
}

pub use crate::kernel::syscall::fork;

/// Sets the loopback interface up (a new network namespace starts with it down).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2); the fd is closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is a plain C struct; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming "lo"; SIOCGIFFLAGS fills ifru_flags.
    let mut r = unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) };
    if r == 0 {
        // SAFETY: the union member written by SIOCGIFFLAGS is ifru_flags.
        unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        // SAFETY: as above; SIOCSIFFLAGS reads ifru_flags.
        r = unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) };
    }
    let err = io::Error::last_os_error();
    // SAFETY: `sock` is ours and open.
    unsafe { libc::close(sock) };
    if r != 0 {
        return Err(err);
    }
    Ok(())
}
