//! One channel's request loop: a blocking read on the thread's own `/dev/fuse` fd, so the
//! kernel wakes exactly one idle thread per request (polling would wake them all).
//!
//! The loop ends when the mount goes away (ENODEV) or, between requests, when `stop` is set.
//! `in_flight` counts requests read and not yet answered, so a stopping worker process can
//! wait for them before it exits: a request taken from the kernel and never answered would
//! hang its caller.

use super::vfs::VprocFs;
use fuse_backend_rs::api::server::Server;
use fuse_backend_rs::transport::{FuseBuf, FuseDevWriter, Reader};
use nix::errno::Errno;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Serves requests from `dev` until unmount or `stop`.
pub fn run_channel(
    server: &Server<VprocFs>,
    dev: &File,
    stop: &AtomicBool,
    in_flight: &AtomicUsize,
    bufsize: usize,
) {
    let mut rbuf = vec![0u8; bufsize];
    let mut wbuf = vec![0u8; bufsize];
    while !stop.load(Ordering::Acquire) {
        let n = match nix::unistd::read(dev, &mut rbuf) {
            Ok(n) => n,
            // Interrupted (by a signal, or the request was aborted by its caller).
            Err(Errno::EINTR | Errno::ENOENT | Errno::EAGAIN) => continue,
            // Unmounted.
            Err(Errno::ENODEV) => return,
            Err(e) => {
                tracing::error!(error = %e, "reading /dev/fuse failed; channel stops");
                return;
            }
        };
        in_flight.fetch_add(1, Ordering::AcqRel);
        handle(server, dev, &mut rbuf[..n], &mut wbuf);
        in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn handle(server: &Server<VprocFs>, dev: &File, request: &mut [u8], wbuf: &mut [u8]) {
    let reader = match Reader::<()>::from_fuse_buffer(FuseBuf::new(request)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "malformed FUSE request");
            return;
        }
    };
    let writer = match FuseDevWriter::<()>::new(dev.as_raw_fd(), wbuf) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "FUSE reply buffer");
            return;
        }
    };
    if let Err(e) = server.handle_message(reader, writer.into(), None, None) {
        // A reply to a caller that was interrupted meanwhile fails with ENOENT: harmless.
        tracing::debug!(error = %e, "FUSE request not answered");
    }
}
