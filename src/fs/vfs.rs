//! The FUSE operations: a read-only tree from [`table`], each view rendered at `open` for the
//! pid the kernel sends with the request and served from the handle's buffer.
//!
//! Attributes never depend on the caller, so `lookup` and `getattr` render nothing and read no
//! host file. Files report `st_size` 0, as procfs does: readers read to EOF (`cat`, Python,
//! Go and Java were tested), and no size can be wrong for a caller whose content is longer.

use super::handles::Handles;
use super::table::{self, Kind, Node};
use crate::render::{Renderer, Served};
use fuse_backend_rs::abi::fuse_abi::{stat64, CreateIn, FsOptions, OpenOptions};
use fuse_backend_rs::api::filesystem::{Context, DirEntry, Entry, FileSystem, ZeroCopyWriter};
use std::ffi::CStr;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the kernel may cache names and attributes: they never change while mounted.
const TTL: Duration = Duration::from_secs(1);

/// Counters a test or an operator can read.
#[derive(Debug, Default)]
pub struct Stats {
    /// Opens answered with host values because the caller could not be resolved.
    pub host_fallbacks: AtomicU64,
    /// Opens of views.
    pub opens: AtomicU64,
}

/// The filesystem.
pub struct VprocFs {
    renderer: Arc<Renderer>,
    handles: Handles,
    stats: Arc<Stats>,
    mtime: i64,
}

impl VprocFs {
    /// A filesystem rendering through `renderer`.
    pub fn new(renderer: Arc<Renderer>, stats: Arc<Stats>) -> Self {
        let mtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        Self {
            renderer,
            handles: Handles::default(),
            stats,
            mtime,
        }
    }

    /// Handles currently open (for leak checks).
    pub fn open_handles(&self) -> usize {
        self.handles.open_count()
    }

    fn attr(&self, n: &Node) -> stat64 {
        let mut st = zeroed_stat();
        st.st_ino = n.ino;
        st.st_uid = 0;
        st.st_gid = 0;
        st.st_atime = self.mtime;
        st.st_mtime = self.mtime;
        st.st_ctime = self.mtime;
        st.st_blksize = 4096;
        match n.kind {
            Kind::Dir => {
                st.st_mode = libc::S_IFDIR | 0o555;
                st.st_nlink = 2;
            }
            Kind::View(_) => {
                st.st_mode = libc::S_IFREG | 0o444;
                st.st_nlink = 1;
                st.st_size = 0;
            }
        }
        st
    }

    fn render(&self, view: crate::render::ViewId, ctx: &Context, buf: &mut Vec<u8>) {
        let pid = u32::try_from(ctx.pid).unwrap_or(0);
        if self.renderer.render(view, pid, buf) == Served::HostFallback {
            self.stats.host_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn entry(&self, n: &Node) -> Entry {
        Entry {
            inode: n.ino,
            generation: 0,
            attr: self.attr(n),
            attr_flags: 0,
            attr_timeout: TTL,
            entry_timeout: TTL,
        }
    }
}

/// A `stat64` with every field 0.
fn zeroed_stat() -> stat64 {
    // SAFETY: stat64 is a plain C struct of integers (and private padding); all-zero bytes are a
    // valid value of every field.
    unsafe { std::mem::zeroed() }
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

fn node_of(ino: u64) -> io::Result<&'static Node> {
    table::node(ino).ok_or_else(|| errno(libc::ENOENT))
}

impl FileSystem for VprocFs {
    type Inode = u64;
    type Handle = u64;

    fn init(&self, _capable: FsOptions) -> io::Result<FsOptions> {
        Ok(FsOptions::empty())
    }

    fn lookup(&self, _ctx: &Context, parent: u64, name: &CStr) -> io::Result<Entry> {
        let n = table::child(parent, name.to_bytes()).ok_or_else(|| errno(libc::ENOENT))?;
        Ok(self.entry(n))
    }

    fn getattr(&self, _ctx: &Context, ino: u64, _h: Option<u64>) -> io::Result<(stat64, Duration)> {
        Ok((self.attr(node_of(ino)?), TTL))
    }

    fn setattr(
        &self,
        _ctx: &Context,
        _ino: u64,
        _attr: stat64,
        _h: Option<u64>,
        _valid: fuse_backend_rs::abi::fuse_abi::SetattrValid,
    ) -> io::Result<(stat64, Duration)> {
        Err(errno(libc::EROFS))
    }

    fn open(
        &self,
        ctx: &Context,
        ino: u64,
        flags: u32,
        _fuse_flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions, Option<u32>)> {
        let Kind::View(view) = node_of(ino)?.kind else {
            return Err(errno(libc::EISDIR));
        };
        if (flags as i32 & libc::O_ACCMODE) != libc::O_RDONLY || flags as i32 & libc::O_TRUNC != 0 {
            return Err(errno(libc::EROFS));
        }
        self.stats.opens.fetch_add(1, Ordering::Relaxed);
        let mut buf = self.handles.buffer();
        self.render(view, ctx, &mut buf);
        let h = self.handles.insert(ino, buf);
        Ok((Some(h), OpenOptions::DIRECT_IO, None))
    }

    fn read(
        &self,
        ctx: &Context,
        ino: u64,
        h: u64,
        w: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
        _lock_owner: Option<u64>,
        _flags: u32,
    ) -> io::Result<usize> {
        let Kind::View(view) = node_of(ino)?.kind else {
            return Err(errno(libc::EISDIR));
        };
        if self.handles.needs_render(h, ino, offset) {
            self.handles
                .rerender(h, ino, |buf| self.render(view, ctx, buf));
        }
        self.handles
            .with_window(h, offset, size, |bytes| w.write(bytes))
            .ok_or_else(|| errno(libc::EBADF))?
    }

    fn release(
        &self,
        _ctx: &Context,
        _ino: u64,
        _flags: u32,
        h: u64,
        _flush: bool,
        _flock_release: bool,
        _lock_owner: Option<u64>,
    ) -> io::Result<()> {
        self.handles.release(h);
        Ok(())
    }

    fn opendir(
        &self,
        _ctx: &Context,
        ino: u64,
        _flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions)> {
        match node_of(ino)?.kind {
            Kind::Dir => Ok((Some(0), OpenOptions::empty())),
            Kind::View(_) => Err(errno(libc::ENOTDIR)),
        }
    }

    fn readdir(
        &self,
        _ctx: &Context,
        ino: u64,
        _h: u64,
        _size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry) -> io::Result<usize>,
    ) -> io::Result<()> {
        let n = node_of(ino)?;
        let dots = [(n.ino, &b"."[..]), (n.parent, &b".."[..])];
        let entries = dots
            .into_iter()
            .map(|(ino, name)| (ino, name, libc::DT_DIR))
            .chain(table::children(ino).map(|c| {
                let t = match c.kind {
                    Kind::Dir => libc::DT_DIR,
                    Kind::View(_) => libc::DT_REG,
                };
                (c.ino, c.name.as_bytes(), t)
            }));
        // Offsets are positions in this fixed list, so each entry is listed once.
        for (i, (ino, name, type_)) in entries.enumerate().skip(offset as usize) {
            let added = add_entry(DirEntry {
                ino,
                offset: i as u64 + 1,
                type_: u32::from(type_),
                name,
            })?;
            if added == 0 {
                break;
            }
        }
        Ok(())
    }

    fn releasedir(&self, _ctx: &Context, _ino: u64, _flags: u32, _h: u64) -> io::Result<()> {
        Ok(())
    }

    fn access(&self, _ctx: &Context, ino: u64, mask: u32) -> io::Result<()> {
        node_of(ino)?;
        if mask & libc::W_OK as u32 != 0 {
            return Err(errno(libc::EROFS));
        }
        Ok(())
    }

    fn create(
        &self,
        _ctx: &Context,
        _parent: u64,
        _name: &CStr,
        _args: CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions, Option<u32>)> {
        Err(errno(libc::EROFS))
    }

    fn mkdir(
        &self,
        _ctx: &Context,
        _parent: u64,
        _name: &CStr,
        _mode: u32,
        _umask: u32,
    ) -> io::Result<Entry> {
        Err(errno(libc::EROFS))
    }

    fn unlink(&self, _ctx: &Context, _parent: u64, _name: &CStr) -> io::Result<()> {
        Err(errno(libc::EROFS))
    }

    fn rmdir(&self, _ctx: &Context, _parent: u64, _name: &CStr) -> io::Result<()> {
        Err(errno(libc::EROFS))
    }

    fn rename(
        &self,
        _ctx: &Context,
        _olddir: u64,
        _oldname: &CStr,
        _newdir: u64,
        _newname: &CStr,
        _flags: u32,
    ) -> io::Result<()> {
        Err(errno(libc::EROFS))
    }

    fn write(
        &self,
        _ctx: &Context,
        _ino: u64,
        _h: u64,
        _r: &mut dyn fuse_backend_rs::api::filesystem::ZeroCopyReader,
        _size: u32,
        _offset: u64,
        _lock_owner: Option<u64>,
        _delayed_write: bool,
        _flags: u32,
        _fuse_flags: u32,
    ) -> io::Result<usize> {
        Err(errno(libc::EROFS))
    }
}

impl std::fmt::Debug for VprocFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VprocFs")
            .field("open_handles", &self.open_handles())
            .finish()
    }
}
