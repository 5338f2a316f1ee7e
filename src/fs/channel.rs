//! One channel's request loop: a blocking read on the thread's own `/dev/fuse` fd, so the
//! kernel wakes exactly one idle thread per request (polling would wake them all).
//!
//! The loop ends when the connection goes away (ENODEV) or, between requests, when `stop` is
//! set. `in_flight` counts requests read and not yet answered, so a stopping worker process can
//! wait for them before it exits: a request taken from the kernel and never answered would hang
//! its caller. For the same reason a request whose handling panics is answered (EIO) and the
//! thread goes on, and a channel that fails otherwise says so ([`End::Failed`]): a worker then
//! exits, so that its supervisor has the kernel resend what it held to a new one.

use super::ops::TreeOps;
use super::wire::reply::{send, Reply};
use super::wire::request::{decode, Op};
use nix::errno::Errno;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The request buffer: the kernel refuses reads into a buffer smaller than its largest
/// possible request (a write of `max_write` bytes, whatever a read-only tree answers), and
/// before INIT that is 1 MiB. Only the pages a request touches are ever resident.
pub const BUFSIZE: usize = (1 << 20) + 4096;

/// Why a channel's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The connection is gone (unmounted, or DESTROY).
    Unmounted,
    /// `stop` was set.
    Stopped,
    /// Reading the channel failed.
    Failed,
}

/// Serves requests from `chan` until the connection ends or `stop` is set.
pub fn run_channel(ops: &TreeOps, chan: &File, stop: &AtomicBool, in_flight: &AtomicUsize) -> End {
    let mut rbuf = vec![0u8; BUFSIZE];
    let mut reply = Reply::new();
    while !stop.load(Ordering::Acquire) {
        let n = match nix::unistd::read(chan, &mut rbuf) {
            Ok(n) => n,
            // Interrupted (by a signal, or the request was aborted by its caller).
            Err(Errno::EINTR | Errno::ENOENT | Errno::EAGAIN) => continue,
            // Unmounted.
            Err(Errno::ENODEV) => return End::Unmounted,
            Err(e) => {
                tracing::error!(error = %e, "reading /dev/fuse failed; channel stops");
                return End::Failed;
            }
        };
        in_flight.fetch_add(1, Ordering::AcqRel);
        match decode(&rbuf[..n]) {
            Ok(req) => {
                let destroy = req.op == Op::Destroy;
                let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ops.handle(&req, chan, &mut reply)
                }));
                match handled {
                    Ok(Ok(())) => {}
                    // A reply to a caller that was interrupted meanwhile: harmless.
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, opcode = req.header.opcode, "FUSE reply not delivered")
                    }
                    Err(_) => {
                        tracing::error!(
                            opcode = req.header.opcode,
                            node = req.header.nodeid,
                            "a request's handling panicked (a bug); answered EIO"
                        );
                        reply = Reply::new();
                        let _ = send(chan, reply.error(req.header.unique, libc::EIO));
                    }
                }
                if destroy {
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    return End::Unmounted;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "malformed FUSE request");
                // Answer what can be answered, so its caller does not hang.
                if n >= 16 {
                    let unique = u64::from_ne_bytes(rbuf[8..16].try_into().unwrap_or([0; 8]));
                    let _ = send(chan, reply.error(unique, libc::EIO));
                }
            }
        }
        in_flight.fetch_sub(1, Ordering::AcqRel);
    }
    End::Stopped
}
