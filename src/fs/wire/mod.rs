//! The FUSE protocol as the kernel speaks it on `/dev/fuse` (the ABI of `linux/fuse.h`), for a
//! read-only tree: decoding the requests vproc answers ([`request`]) and encoding replies and
//! notifications ([`reply`]).
//!
//! Hand-written rather than taken from a FUSE crate because vproc negotiates what the crates it
//! could use do not (protocol 7.33 in fuse-backend-rs): `no_open` connections, parallel
//! directory operations, `FUSE_NOTIFY_INVAL_INODE`/`INVAL_ENTRY`/`RESEND`, and the lock-owner
//! flag that tells a direct read from a page-cache fill. Every struct is written and read field
//! by field in native byte order, so this module has no unsafe code and no layout assumptions.
#![forbid(unsafe_code)]

pub mod reply;
pub mod request;

/// The protocol major version spoken.
pub const KERNEL_VERSION: u32 = 7;
/// The highest minor version vproc speaks (7.36: `FUSE_INIT_EXT`, the second flags word).
pub const KERNEL_MINOR_VERSION: u32 = 36;
/// The root directory's node id, fixed by the protocol.
pub const ROOT_ID: u64 = 1;

/// Request opcodes (`enum fuse_opcode`).
#[allow(missing_docs)]
pub mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
    pub const RENAME2: u32 = 45;
    pub const TMPFILE: u32 = 51;
}

/// `FUSE_INIT` flags (the first and second flag words as one `u64`).
#[allow(missing_docs)]
pub mod init_flag {
    pub const ASYNC_READ: u64 = 1 << 0;
    pub const AUTO_INVAL_DATA: u64 = 1 << 12;
    pub const NO_OPEN_SUPPORT: u64 = 1 << 17;
    pub const PARALLEL_DIROPS: u64 = 1 << 18;
    pub const MAX_PAGES: u64 = 1 << 22;
    pub const NO_OPENDIR_SUPPORT: u64 = 1 << 24;
    pub const INIT_EXT: u64 = 1 << 30;
    pub const HAS_RESEND: u64 = 1 << 39;
}

/// `FOPEN_*` flags of an open reply.
#[allow(missing_docs)]
pub mod fopen {
    pub const DIRECT_IO: u32 = 1 << 0;
    pub const KEEP_CACHE: u32 = 1 << 1;
}

/// `FUSE_READ_LOCKOWNER`: set on reads that come from `read(2)` on a direct-I/O file, never on
/// the page-cache fills of `splice`, `sendfile` and `mmap`.
pub const READ_LOCKOWNER: u32 = 1 << 1;

/// `FUSE_GETATTR_FH`: the getattr names the file handle it was made through.
pub const GETATTR_FH: u32 = 1 << 0;

/// Notification codes (`enum fuse_notify_code`).
#[allow(missing_docs)]
pub mod notify {
    pub const INVAL_INODE: i32 = 2;
    pub const INVAL_ENTRY: i32 = 3;
    pub const RESEND: i32 = 7;
}
