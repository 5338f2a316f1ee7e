//! Encoding replies and notifications, and writing them to a `/dev/fuse` channel. Each encoder
//! fills a reused buffer (no allocation once it has grown); data replies are written with the
//! payload as a second iovec, so file content is never copied.

use super::{notify, KERNEL_MINOR_VERSION, KERNEL_VERSION};
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

/// Size of `struct fuse_out_header`.
const OUT_HEADER_LEN: usize = 16;

/// A node's attributes, the fields of `struct fuse_attr` vproc sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// `S_IFREG | 0444` or `S_IFDIR | 0555`.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Nanoseconds since the epoch, for atime, mtime and ctime.
    pub time_ns: u64,
}

/// What vproc answers to `FUSE_INIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitOut {
    /// The minor version agreed.
    pub minor: u32,
    /// Most bytes read ahead.
    pub max_readahead: u32,
    /// The features wanted (both words).
    pub flags: u64,
    /// Background requests in flight at most.
    pub max_background: u16,
    /// Most pages per request.
    pub max_pages: u16,
}

/// A reply being built.
#[derive(Debug, Default)]
pub struct Reply {
    buf: Vec<u8>,
}

fn split(d: Duration) -> (u64, u32) {
    (d.as_secs(), d.subsec_nanos())
}

impl Reply {
    /// An empty reply buffer.
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(512),
        }
    }

    fn start(&mut self, unique: u64, error: i32) {
        self.buf.clear();
        self.u32(0); // length, set by `finish`
        self.i32(error);
        self.u64(unique);
    }

    fn finish(&mut self, extra: usize) {
        let len = u32::try_from(self.buf.len() + extra).unwrap_or(u32::MAX);
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    fn attr(&mut self, a: &Attr) {
        self.u64(a.ino);
        self.u64(a.size);
        self.u64(a.size.div_ceil(512)); // blocks
        let (secs, nanos) = (
            a.time_ns / 1_000_000_000,
            (a.time_ns % 1_000_000_000) as u32,
        );
        for _ in 0..3 {
            self.u64(secs); // atime, mtime, ctime
        }
        for _ in 0..3 {
            self.u32(nanos);
        }
        self.u32(a.mode);
        self.u32(a.nlink);
        self.u32(0); // uid: root
        self.u32(0); // gid: root
        self.u32(0); // rdev
        self.u32(4096); // blksize
        self.u32(0); // flags
    }

    /// An error reply (`errno` positive, as `libc::ENOENT`).
    pub fn error(&mut self, unique: u64, errno: i32) -> &[u8] {
        self.start(unique, -errno);
        self.finish(0);
        &self.buf
    }

    /// A success without payload.
    pub fn empty(&mut self, unique: u64) -> &[u8] {
        self.start(unique, 0);
        self.finish(0);
        &self.buf
    }

    /// `fuse_entry_out`.
    pub fn entry(
        &mut self,
        unique: u64,
        nodeid: u64,
        entry_valid: Duration,
        attr_valid: Duration,
        attr: &Attr,
    ) -> &[u8] {
        self.start(unique, 0);
        let (es, en) = split(entry_valid);
        let (as_, an) = split(attr_valid);
        self.u64(nodeid);
        self.u64(0); // generation: node ids are never reused with another meaning
        self.u64(es);
        self.u64(as_);
        self.u32(en);
        self.u32(an);
        self.attr(attr);
        self.finish(0);
        &self.buf
    }

    /// `fuse_attr_out`.
    pub fn attr_out(&mut self, unique: u64, valid: Duration, attr: &Attr) -> &[u8] {
        self.start(unique, 0);
        let (s, n) = split(valid);
        self.u64(s);
        self.u32(n);
        self.u32(0);
        self.attr(attr);
        self.finish(0);
        &self.buf
    }

    /// `fuse_open_out`.
    pub fn open(&mut self, unique: u64, fh: u64, open_flags: u32) -> &[u8] {
        self.start(unique, 0);
        self.u64(fh);
        self.u32(open_flags);
        self.u32(0); // backing id: no passthrough
        self.finish(0);
        &self.buf
    }

    /// The header of a data reply whose payload (`len` bytes) follows as a second iovec.
    pub fn data_header(&mut self, unique: u64, len: usize) -> &[u8] {
        self.start(unique, 0);
        self.finish(len);
        &self.buf
    }

    /// `fuse_init_out`.
    pub fn init(&mut self, unique: u64, out: &InitOut) -> &[u8] {
        self.start(unique, 0);
        self.u32(KERNEL_VERSION);
        self.u32(out.minor.min(KERNEL_MINOR_VERSION));
        self.u32(out.max_readahead);
        self.u32(out.flags as u32);
        self.u16(out.max_background);
        self.u16(out.max_background / 4 * 3); // congestion threshold
        self.u32(128 * 1024); // max_write: nothing is written, any value will do
        self.u32(1); // time_gran: nanoseconds
        self.u16(out.max_pages);
        self.u16(0); // map_alignment
        self.u32((out.flags >> 32) as u32);
        self.u32(0); // max_stack_depth: no passthrough
        self.u16(0); // request_timeout
        for _ in 0..11 {
            self.u16(0);
        }
        self.finish(0);
        &self.buf
    }

    /// `fuse_statfs_out` for a read-only tree of `files` nodes.
    pub fn statfs(&mut self, unique: u64, files: u64) -> &[u8] {
        self.start(unique, 0);
        for v in [0, 0, 0, files, 0] {
            self.u64(v); // blocks, bfree, bavail, files, ffree
        }
        self.u32(4096); // bsize
        self.u32(255); // namelen
        self.u32(4096); // frsize
        self.u32(0);
        for _ in 0..6 {
            self.u32(0);
        }
        self.finish(0);
        &self.buf
    }

    /// Starts a directory listing; add entries with [`Reply::dirent`], then [`Reply::done`].
    pub fn dir_start(&mut self, unique: u64) {
        self.start(unique, 0);
    }

    /// Adds one `fuse_dirent` if it fits within `size` bytes of entries; `false` if it does not.
    pub fn dirent(
        &mut self,
        size: u32,
        ino: u64,
        next_offset: u64,
        type_: u32,
        name: &[u8],
    ) -> bool {
        let entry_len = (24 + name.len()).next_multiple_of(8);
        if self.buf.len() - OUT_HEADER_LEN + entry_len > size as usize {
            return false;
        }
        self.u64(ino);
        self.u64(next_offset);
        self.u32(u32::try_from(name.len()).unwrap_or(0));
        self.u32(type_);
        self.buf.extend_from_slice(name);
        let pad = entry_len - 24 - name.len();
        self.buf.resize(self.buf.len() + pad, 0);
        true
    }

    /// The reply or notification built last.
    pub fn last(&self) -> &[u8] {
        &self.buf
    }

    /// Finishes a reply built piece by piece.
    pub fn done(&mut self) -> &[u8] {
        self.finish(0);
        &self.buf
    }

    /// `FUSE_NOTIFY_INVAL_INODE`: drop the cached attributes of `ino`, and its cached pages from
    /// `offset` on (`len` 0: to the end).
    pub fn inval_inode(&mut self, ino: u64, offset: i64, len: i64) -> &[u8] {
        self.start(0, notify::INVAL_INODE);
        self.u64(ino);
        self.buf.extend_from_slice(&offset.to_ne_bytes());
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.finish(0);
        &self.buf
    }

    /// `FUSE_NOTIFY_INVAL_ENTRY`: drop the cached name `name` in directory `parent`.
    pub fn inval_entry(&mut self, parent: u64, name: &[u8]) -> &[u8] {
        self.start(0, notify::INVAL_ENTRY);
        self.u64(parent);
        self.u32(u32::try_from(name.len()).unwrap_or(0));
        self.u32(0);
        self.buf.extend_from_slice(name);
        self.buf.push(0);
        self.finish(0);
        &self.buf
    }

    /// `FUSE_NOTIFY_RESEND` (Linux 6.9+): queue again every request read and not answered.
    pub fn resend(&mut self) -> &[u8] {
        self.start(0, notify::RESEND);
        self.finish(0);
        &self.buf
    }
}

/// Writes one reply (or notification) to a channel. `ENOENT` means the request was interrupted
/// and its caller is gone: not an error.
pub fn send(fd: impl AsFd, bytes: &[u8]) -> io::Result<()> {
    match nix::unistd::write(fd, bytes) {
        Ok(_) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes a data reply: `header` from [`Reply::data_header`], then `data`.
pub fn send_data(fd: impl AsFd, header: &[u8], data: &[u8]) -> io::Result<()> {
    let iov = [io::IoSlice::new(header), io::IoSlice::new(data)];
    match nix::sys::uio::writev(fd, &iov) {
        Ok(_) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn sizes_match_the_kernel_structs() {
        let mut r = Reply::new();
        let a = Attr::default();
        // out header 16 + fuse_entry_out 128
        assert_eq!(r.entry(1, 2, Duration::ZERO, Duration::ZERO, &a).len(), 144);
        // + fuse_attr_out 104
        assert_eq!(r.attr_out(1, Duration::ZERO, &a).len(), 120);
        // + fuse_open_out 16
        assert_eq!(r.open(1, 2, 3).len(), 32);
        let init = InitOut {
            minor: 40,
            max_readahead: 0,
            flags: 0,
            max_background: 64,
            max_pages: 32,
        };
        // + fuse_init_out 64
        let b = r.init(1, &init).to_vec();
        assert_eq!(b.len(), 80);
        assert_eq!(u32_at(&b, 0), 80);
        assert_eq!(u32_at(&b, 20), KERNEL_MINOR_VERSION);
        // + fuse_kstatfs 80
        assert_eq!(r.statfs(1, 9).len(), 96);
        assert_eq!(r.inval_inode(5, 0, 0).len(), 40);
        assert_eq!(r.inval_entry(5, b"abc").len(), 16 + 16 + 4);
        let e = r.error(9, libc::ENOENT).to_vec();
        assert_eq!(e.len(), 16);
        assert_eq!(i32::from_ne_bytes([e[4], e[5], e[6], e[7]]), -libc::ENOENT);
        assert_eq!(u32_at(r.data_header(1, 100), 0), 116);
    }

    #[test]
    fn dirents_are_padded_and_bounded() {
        let mut r = Reply::new();
        r.dir_start(1);
        assert!(r.dirent(100, 1, 1, 4, b"proc"));
        assert!(!r.dirent(40, 2, 2, 4, b"sys"));
        let b = r.done();
        assert_eq!(b.len(), 16 + 32);
    }
}
