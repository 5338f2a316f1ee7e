//! The answers to each request, for both trees.
//!
//! **Per-container files** (every file of the containers tree, and the files a container's own
//! processes look up in the views tree) have one node per container per view, an exact size
//! and the kernel's page cache: after the first read in a cache TTL, `read`, `pread`,
//! `sendfile`, `splice` and `mmap` are served by the kernel without asking vproc. The containers
//! tree answers `OPEN` with `ENOSYS`, which makes the kernel skip opens on it for good
//! (`no_open`): an open of such a file costs no round trip at all.
//!
//! **Per-reader files** (the views tree's file for a reader whose container cannot be resolved,
//! and a per-container file that a process of another container opened, e.g. because a tool
//! bound it from outside the container) are rendered at each open for the process that opens,
//! with `FOPEN_DIRECT_IO`. Their size is 0, and a read that fills the page cache (`splice`,
//! `sendfile`, `mmap`: the kernel sends those without `FUSE_READ_LOCKOWNER`) gets 0 bytes: on
//! one node shared by several containers, the page cache would show one container another's
//! bytes, so such readers see an empty file instead (see docs/serve.md for which kernels).
//!
//! **The host's CPU directory** (`.reader/sys/devices/system/cpu`, see `passthrough.rs`) is
//! listed for each reader: its `cpuN` names are the reader's CPUs (never cached: the next
//! walker may be another container's), every other name the host's.
//!
//! A views-tree name resolves per caller: its lookups are never cached (entry timeout 0), so
//! every path walk gets the walker's own node, and a runtime that binds the file into a
//! container from inside it (runc, crun) binds that container's node.

use super::callers::Callers;
use super::content::{ContentStore, Rendered};
use super::handles::Handles;
use super::passthrough::{self, HostTree};
use super::registry::Registry;
use super::tree::{self, Entry, Node, BY_PID_NAME, READER_NAME, SLOTS_NAME};
use super::wire::reply::{send, send_data, Attr, InitOut, Reply};
use super::wire::request::{InHeader, Op, Request};
use super::wire::{fopen, init_flag, READ_LOCKOWNER, ROOT_ID};
use super::Stats;
use crate::cgroup::resolve::{Container, ContainerId};
use crate::cgroup::CpuSet;
use crate::compose::{Composer, Served};
use crate::views::ViewId;
use std::fs::File;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which tree a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// The mountpoint: `proc/...`, `sys/...`, resolved per caller.
    Views,
    /// `MOUNTPOINT/by-pid`: `<pid>/proc/...`, one container each.
    Containers,
}

/// The arguments of a read.
#[derive(Debug, Clone, Copy)]
struct ReadArgs {
    fh: u64,
    offset: u64,
    size: u32,
    read_flags: u32,
}

/// What a lookup found.
enum Found {
    /// A directory, cached for this long.
    Dir(Node, Duration),
    /// A view's link in the views tree.
    Link(ViewId),
    /// A file.
    File {
        node: Node,
        size: u64,
        mtime_ns: u64,
        entry_ttl: Duration,
        attr_ttl: Duration,
    },
    /// An entry of the host's CPU directory.
    Host {
        node: u64,
        meta: std::fs::Metadata,
        entry_ttl: Duration,
    },
}

/// How long the kernel may keep names and attributes that never change (directories).
const STATIC_TTL: Duration = Duration::from_secs(3600);

/// One tree's operations.
pub struct TreeOps {
    kind: TreeKind,
    composer: Arc<Composer>,
    registry: Arc<Registry>,
    content: ContentStore,
    callers: Callers,
    handles: Handles,
    stats: Arc<Stats>,
    ttl: Duration,
    mount_time_ns: u64,
    notifier: Option<Notifier>,
    host: HostTree,
}

/// Writes notifications to the kernel on one channel of the connection.
#[derive(Debug)]
pub struct Notifier {
    chan: File,
    reply: std::sync::Mutex<Reply>,
}

impl Notifier {
    /// Notifications go out through `chan` (any channel of the connection).
    pub fn new(chan: File) -> Self {
        Self {
            chan,
            reply: std::sync::Mutex::new(Reply::new()),
        }
    }

    /// Drops the kernel's cached attributes and pages of `ino`.
    pub fn inval_inode(&self, ino: u64) {
        let mut r = self.reply.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = send(&self.chan, r.inval_inode(ino, 0, 0)) {
            tracing::debug!(ino, error = %e, "invalidating a node");
        }
    }
}

impl std::fmt::Debug for TreeOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeOps")
            .field("kind", &self.kind)
            .field("open_handles", &self.handles.open_count())
            .finish_non_exhaustive()
    }
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl TreeOps {
    /// Operations of a `kind` tree rendering through `composer`.
    pub fn new(
        kind: TreeKind,
        composer: Arc<Composer>,
        registry: Arc<Registry>,
        stats: Arc<Stats>,
    ) -> Self {
        let ttl = composer.cache_ttl();
        Self {
            kind,
            composer,
            registry,
            content: ContentStore::new(ttl),
            callers: Callers::new(ttl),
            handles: Handles::default(),
            stats,
            ttl,
            mount_time_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0)),
            notifier: None,
            host: HostTree::new(passthrough::HOST_CPU_DIR),
        }
    }

    /// Sends the kernel notifications (cache invalidations) through `n`.
    pub fn with_notifier(mut self, n: Notifier) -> Self {
        self.notifier = Some(n);
        self
    }

    /// This tree's files rendered within `within`.
    pub fn content_summary(&self, within: Duration) -> Vec<super::content::FileSummary> {
        self.content.summary(within)
    }

    /// Handles currently open (for leak checks).
    pub fn open_handles(&self) -> usize {
        self.handles.open_count()
    }

    /// Answers one request on `chan`; `reply` is this thread's reused buffer.
    pub fn handle(&self, req: &Request<'_>, chan: &File, reply: &mut Reply) -> io::Result<()> {
        let h = &req.header;
        let result = match &req.op {
            Op::Init {
                minor,
                max_readahead,
                flags,
                ..
            } => {
                let want = init_flag::ASYNC_READ
                    | init_flag::PARALLEL_DIROPS
                    | init_flag::AUTO_INVAL_DATA
                    | init_flag::MAX_PAGES
                    | init_flag::INIT_EXT;
                let out = InitOut {
                    minor: *minor,
                    max_readahead: *max_readahead,
                    flags: flags & want,
                    max_background: 64,
                    max_pages: 32,
                };
                return send(chan, reply.init(h.unique, &out));
            }
            Op::Lookup { name } => self.lookup(h.nodeid, name, h.pid, reply, h.unique),
            Op::Forget { .. } | Op::BatchForget { .. } | Op::Interrupt { .. } => return Ok(()),
            Op::Getattr { .. } => self.getattr(h.nodeid, reply, h.unique),
            Op::Readlink => {
                let target = match Node::from_ino(h.nodeid) {
                    Some(Node::Link(view)) => self.link_target(view, h.pid).into_bytes(),
                    Some(Node::Host(n)) if self.kind == TreeKind::Views => {
                        match self.host.readlink(n) {
                            Ok(t) => t,
                            Err(e) => {
                                let e = e.raw_os_error().unwrap_or(libc::EIO);
                                return send(chan, reply.error(h.unique, e));
                            }
                        }
                    }
                    _ => return send(chan, reply.error(h.unique, libc::EINVAL)),
                };
                return send_data(chan, reply.data_header(h.unique, target.len()), &target);
            }
            Op::Open { flags } => self.open(h.nodeid, *flags, h.pid, reply, h.unique),
            Op::Read {
                fh,
                offset,
                size,
                read_flags,
            } => {
                let r = ReadArgs {
                    fh: *fh,
                    offset: *offset,
                    size: *size,
                    read_flags: *read_flags,
                };
                return self.read(h, r, chan, reply);
            }
            Op::Release { fh } => {
                self.handles.release(*fh);
                reply.empty(h.unique);
                Ok(())
            }
            // A vproc file has nothing to flush: the kernel stops sending FLUSH.
            Op::Flush => Err(errno(libc::ENOSYS)),
            Op::Opendir => match self.kind {
                // Directories need no open either (`no_opendir`).
                TreeKind::Containers => Err(errno(libc::ENOSYS)),
                TreeKind::Views => match Node::from_ino(h.nodeid) {
                    Some(Node::Host(n)) => match self.host.metadata(n) {
                        Ok(m) if m.is_dir() => {
                            reply.open(h.unique, 0, 0);
                            Ok(())
                        }
                        Ok(_) => Err(errno(libc::ENOTDIR)),
                        Err(e) => Err(e),
                    },
                    Some(n) if n.is_dir() => {
                        reply.open(h.unique, 0, 0);
                        Ok(())
                    }
                    Some(_) => Err(errno(libc::ENOTDIR)),
                    None => Err(errno(libc::ENOENT)),
                },
            },
            Op::Readdir { offset, size, .. } => {
                self.readdir(h.nodeid, *offset, *size, h.pid, reply, h.unique)
            }
            Op::Releasedir => {
                reply.empty(h.unique);
                Ok(())
            }
            Op::Statfs => {
                reply.statfs(h.unique, (ViewId::ALL.len() + tree::DIRS.len()) as u64);
                Ok(())
            }
            Op::Access { mask } => {
                if mask & libc::W_OK as u32 != 0 {
                    Err(errno(libc::EROFS))
                } else {
                    reply.empty(h.unique);
                    Ok(())
                }
            }
            Op::Destroy => {
                reply.empty(h.unique);
                Ok(())
            }
            Op::Modify => Err(errno(libc::EROFS)),
            Op::Other => Err(errno(libc::ENOSYS)),
        };
        match result {
            // The reply is in `reply`'s buffer.
            Ok(()) => send(chan, reply.last()),
            Err(e) => send(
                chan,
                reply.error(h.unique, e.raw_os_error().unwrap_or(libc::EIO)),
            ),
        }
    }

    fn dir_attr(&self, ino: u64) -> Attr {
        Attr {
            ino,
            size: 0,
            mode: libc::S_IFDIR | 0o555,
            nlink: 2,
            time_ns: self.mount_time_ns,
        }
    }

    fn link_attr(&self, ino: u64) -> Attr {
        Attr {
            ino,
            size: 0,
            mode: libc::S_IFLNK | 0o777,
            nlink: 1,
            time_ns: self.mount_time_ns,
        }
    }

    /// Where the link of `view` points for the process `pid`: its container's file, or the
    /// per-reader file if it cannot be resolved.
    fn link_target(&self, view: ViewId, pid: u32) -> String {
        let slot = self
            .callers
            .container_of(self.composer.resolver(), pid, &self.stats)
            .map(|id| self.slot_for(&id, Some(view)));
        tree::link_target(view, slot)
    }

    /// The slot of container `id` for new lookups; sweeps gone containers' slots when due.
    fn slot_for(&self, id: &ContainerId, view: Option<ViewId>) -> u64 {
        let slot = self.registry.slot_for(id, view);
        let resolver = self.composer.resolver();
        let swept = self.registry.sweep_if_due(|id| resolver.is_gone(id));
        if swept > 0 {
            tracing::debug!(swept, "slots of gone containers dropped");
        }
        slot
    }

    /// A file's attributes; `mtime_ns` changes with every rendering, which makes the kernel
    /// drop the pages it cached of the previous one (`FUSE_AUTO_INVAL_DATA`).
    fn file_attr(&self, ino: u64, size: u64, mtime_ns: u64) -> Attr {
        Attr {
            ino,
            size,
            mode: libc::S_IFREG | 0o444,
            nlink: 1,
            time_ns: if mtime_ns == 0 {
                self.mount_time_ns
            } else {
                mtime_ns
            },
        }
    }

    /// The container of a slot, as it is now.
    fn container_of(&self, slot: u64) -> Option<Container> {
        let id = self.registry.container(slot)?;
        match self.composer.resolver().container(&id) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(slot, error = %e, "container gone; host values served");
                self.stats.host_fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Renders a container's file; whether the rendering is volatile (never reused: the uptime,
    /// and every file of a container that is still starting).
    fn render_slot(&self, slot: u64, view: ViewId, out: &mut Vec<u8>) -> bool {
        let started = std::time::Instant::now();
        let c = self.container_of(slot);
        self.composer.compose(view, c.as_ref(), out);
        self.stats.rendered(view, started.elapsed());
        // The uptime is never reused: a process that started after a reused rendering would
        // find itself started after "now", and `ps` would show it a wrapped elapsed time.
        view == ViewId::Uptime || c.is_some_and(|c| self.composer.is_starting(&c))
    }

    /// How long the kernel may keep a rendering's attributes (and so its pages).
    fn attr_ttl(&self, r: &Rendered) -> Duration {
        if r.volatile {
            Duration::ZERO
        } else {
            self.ttl
        }
    }

    /// The rendering for the attributes of a per-container file.
    fn fresh(&self, slot: u64, view: ViewId) -> Rendered {
        let ino = Node::ContainerView { slot, view }.ino();
        self.content
            .fresh(ino, |out| self.render_slot(slot, view, out))
    }

    fn lookup(
        &self,
        parent: u64,
        name: &[u8],
        pid: u32,
        reply: &mut Reply,
        unique: u64,
    ) -> io::Result<()> {
        match self.find(parent, name, pid)? {
            Found::Dir(n, ttl) => {
                reply.entry(unique, n.ino(), ttl, ttl, &self.dir_attr(n.ino()));
            }
            Found::Link(view) => {
                let ino = Node::Link(view).ino();
                reply.entry(unique, ino, STATIC_TTL, STATIC_TTL, &self.link_attr(ino));
            }
            Found::File {
                node,
                size,
                mtime_ns,
                entry_ttl,
                attr_ttl,
            } => {
                let attr = self.file_attr(node.ino(), size, mtime_ns);
                reply.entry(unique, node.ino(), entry_ttl, attr_ttl, &attr);
            }
            Found::Host {
                node,
                meta,
                entry_ttl,
            } => {
                reply.entry(unique, node, entry_ttl, self.ttl, &host_attr(&meta));
            }
        }
        Ok(())
    }

    /// The CPUs `pid` is shown: the ones its `online` view lists. Asked at every path walk
    /// through a `cpuN` (never cached by the kernel), so from the recent callers and the
    /// container's own `online` file as rendered within the cache TTL.
    fn visible_cpus(&self, pid: u32) -> Option<CpuSet> {
        let view = ViewId::CpuOnline;
        let id = self
            .callers
            .container_of(self.composer.resolver(), pid, &self.stats);
        let bytes = match id {
            Some(id) => self.fresh(self.slot_for(&id, None), view).bytes,
            None => {
                let mut buf = Vec::new();
                self.render_for_reader(view, pid, &mut buf);
                Arc::new(buf)
            }
        };
        CpuSet::parse(bytes.trim_ascii_end()).ok()
    }

    /// `name` in the host's CPU directory, for `pid`: a `cpuN` it is not shown does not exist.
    fn host_cpu_child(&self, name: &[u8], pid: u32) -> io::Result<Found> {
        let cpu = passthrough::cpu_number(name);
        if let Some(n) = cpu {
            if !self.visible_cpus(pid).is_some_and(|v| v.contains(n)) {
                return Err(errno(libc::ENOENT));
            }
        }
        let (node, meta) = self.host.lookup(None, name)?;
        Ok(Found::Host {
            node,
            meta,
            // Whether a `cpuN` exists depends on who asks.
            entry_ttl: if cpu.is_some() {
                Duration::ZERO
            } else {
                self.ttl
            },
        })
    }

    /// The node `name` in `parent` names (the same for every caller: where a link points is
    /// decided when it is followed).
    fn find(&self, parent: u64, name: &[u8], pid: u32) -> io::Result<Found> {
        let parent = Node::from_ino(parent).ok_or_else(|| errno(libc::ENOENT))?;
        let container_file = |slot: u64, view: ViewId, entry_ttl: Duration| {
            let r = self.fresh(slot, view);
            Found::File {
                node: Node::ContainerView { slot, view },
                size: r.bytes.len() as u64,
                mtime_ns: r.mtime_ns,
                entry_ttl,
                attr_ttl: self.attr_ttl(&r),
            }
        };
        match (self.kind, parent) {
            (TreeKind::Views, Node::Dir(i)) => {
                if let Some(j) = tree::child_dir(i, name) {
                    return Ok(Found::Dir(Node::Dir(j), STATIC_TTL));
                }
                if i == 0 {
                    match name {
                        n if n == BY_PID_NAME.as_bytes() => {
                            return Ok(Found::Dir(Node::ByPid, STATIC_TTL))
                        }
                        n if n == SLOTS_NAME.as_bytes() => {
                            return Ok(Found::Dir(Node::Slots, STATIC_TTL))
                        }
                        n if n == READER_NAME.as_bytes() => {
                            return Ok(Found::Dir(Node::ReaderDir(0), STATIC_TTL))
                        }
                        _ => {}
                    }
                }
                // A view's name is a link, the same for everyone: where it points is decided
                // when it is followed.
                let view = tree::child_view(i, name).ok_or_else(|| errno(libc::ENOENT))?;
                Ok(Found::Link(view))
            }
            (TreeKind::Views, Node::Slots) => {
                let slot = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|&s| self.registry.container(s).is_some())
                    .ok_or_else(|| errno(libc::ENOENT))?;
                Ok(Found::Dir(
                    Node::ContainerDir { slot, index: 0 },
                    STATIC_TTL,
                ))
            }
            (TreeKind::Views, Node::ReaderDir(i)) => {
                if let Some(j) = tree::child_dir(i, name) {
                    return Ok(Found::Dir(Node::ReaderDir(j), STATIC_TTL));
                }
                let Some(view) = tree::child_view(i, name) else {
                    if i == tree::CPU_DIR {
                        return self.host_cpu_child(name, pid);
                    }
                    return Err(errno(libc::ENOENT));
                };
                Ok(Found::File {
                    node: Node::ReaderView(view),
                    size: 0,
                    mtime_ns: 0,
                    entry_ttl: STATIC_TTL,
                    attr_ttl: Duration::ZERO,
                })
            }
            (TreeKind::Containers, Node::Dir(0)) => {
                // `<pid>`: the container that process belongs to, now.
                let pid = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                    .filter(|&p| p > 0)
                    .ok_or_else(|| errno(libc::ENOENT))?;
                let c = self
                    .composer
                    .resolver()
                    .resolve(pid)
                    .map_err(|_| errno(libc::ENOENT))?;
                let slot = self.slot_for(&c.id, None);
                // (Resolved afresh, not from the recent callers: the pid is a name here, and
                // the process it names is not the caller.)
                // A pid can name another container once it is reused: the name is kept only
                // for the cache TTL (a pid is not reused that fast).
                Ok(Found::Dir(Node::ContainerDir { slot, index: 0 }, self.ttl))
            }
            (_, Node::ContainerDir { slot, index }) => {
                if let Some(j) = tree::child_dir(index, name) {
                    return Ok(Found::Dir(
                        Node::ContainerDir { slot, index: j },
                        STATIC_TTL,
                    ));
                }
                let view = tree::child_view(index, name).ok_or_else(|| errno(libc::ENOENT))?;
                self.registry
                    .container(slot)
                    .ok_or_else(|| errno(libc::ESTALE))?;
                Ok(container_file(slot, view, STATIC_TTL))
            }
            (TreeKind::Views, Node::Host(n)) => {
                let (node, meta) = self.host.lookup(Some(n), name)?;
                Ok(Found::Host {
                    node,
                    meta,
                    entry_ttl: self.ttl,
                })
            }
            _ => Err(errno(libc::ENOENT)),
        }
    }

    fn getattr(&self, ino: u64, reply: &mut Reply, unique: u64) -> io::Result<()> {
        let node = Node::from_ino(ino).ok_or_else(|| errno(libc::ENOENT))?;
        let (attr, valid) = match node {
            Node::Host(n) if self.kind == TreeKind::Views => {
                (host_attr(&self.host.metadata(n)?), self.ttl)
            }
            n if n.is_dir() => (self.dir_attr(ino), STATIC_TTL),
            Node::Link(_) => (self.link_attr(ino), STATIC_TTL),
            Node::ContainerView { slot, view } if !self.is_per_reader(slot, view) => {
                self.registry
                    .container(slot)
                    .ok_or_else(|| errno(libc::ESTALE))?;
                let r = self.fresh(slot, view);
                (
                    self.file_attr(ino, r.bytes.len() as u64, r.mtime_ns),
                    self.attr_ttl(&r),
                )
            }
            // Per-reader files: size 0, never cached.
            _ => (self.file_attr(ino, 0, 0), Duration::ZERO),
        };
        reply.attr_out(unique, valid, &attr);
        Ok(())
    }

    /// Whether a views-tree file of a container serves per reader (it was converted).
    fn is_per_reader(&self, slot: u64, view: ViewId) -> bool {
        self.kind == TreeKind::Views && self.registry.is_converted(slot, view)
    }

    fn open(
        &self,
        ino: u64,
        flags: u32,
        pid: u32,
        reply: &mut Reply,
        unique: u64,
    ) -> io::Result<()> {
        if self.kind == TreeKind::Containers {
            // `no_open`: the kernel opens this tree's files without asking from now on.
            return Err(errno(libc::ENOSYS));
        }
        let node = Node::from_ino(ino).ok_or_else(|| errno(libc::ENOENT))?;
        if node.is_dir() {
            return Err(errno(libc::EISDIR));
        }
        let flags = flags as i32;
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
            return Err(errno(libc::EROFS));
        }
        if let Node::Host(n) = node {
            if self.host.metadata(n)?.is_dir() {
                return Err(errno(libc::EISDIR));
            }
            // Refused here if the host refuses it (write-only attributes).
            self.host.check_readable(n)?;
            // Read from the host at each read: sysfs sizes say nothing of the content.
            reply.open(unique, 0, fopen::DIRECT_IO);
            return Ok(());
        }
        self.stats.opens.fetch_add(1, Ordering::Relaxed);
        let view = match node {
            Node::ReaderView(v) => v,
            Node::ContainerView { slot, view } => {
                if !self.registry.is_converted(slot, view) {
                    let opener =
                        self.callers
                            .container_of(self.composer.resolver(), pid, &self.stats);
                    if opener.as_ref() == self.registry.container(slot).as_ref() {
                        // The container's own file: the kernel's page cache serves it.
                        reply.open(unique, 0, fopen::KEEP_CACHE);
                        return Ok(());
                    }
                    self.convert(slot, view, opener.as_ref());
                }
                view
            }
            _ => return Err(errno(libc::ENOENT)),
        };
        let mut buf = self.handles.buffer();
        self.render_for_reader(view, pid, &mut buf);
        let fh = self.handles.insert(ino, buf);
        reply.open(unique, fh, fopen::DIRECT_IO);
        Ok(())
    }

    /// Another container opened this container's file: from now on it is a per-reader file,
    /// and what the kernel cached of it is dropped before the opener can read it.
    fn convert(&self, slot: u64, view: ViewId, opener: Option<&ContainerId>) {
        if self.registry.convert(slot, view) {
            self.stats.foreign_opens.fetch_add(1, Ordering::Relaxed);
            let name = |id: Option<&ContainerId>| {
                id.map_or("an unresolved reader".to_owned(), |i| i.to_string())
            };
            tracing::warn!(
                file = view.path(),
                owner = %name(self.registry.container(slot).as_ref()),
                opener = %name(opener),
                "a process of another container opened this container's file (bound from outside the container?); it now renders per reader, and splice/sendfile readers of it see an empty file"
            );
        }
        if let Some(n) = &self.notifier {
            n.inval_inode(Node::ContainerView { slot, view }.ino());
        }
    }

    fn render_for_reader(&self, view: ViewId, pid: u32, out: &mut Vec<u8>) {
        let started = std::time::Instant::now();
        if self.composer.compose_for_pid(view, pid, out) == Served::HostFallback {
            self.stats.host_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.rendered(view, started.elapsed());
    }

    fn read(&self, h: &InHeader, r: ReadArgs, chan: &File, reply: &mut Reply) -> io::Result<()> {
        let (ino, unique, pid) = (h.nodeid, h.unique, h.pid);
        let ReadArgs {
            fh,
            offset,
            size,
            read_flags,
        } = r;
        let Some(node) = Node::from_ino(ino) else {
            return send(chan, reply.error(unique, libc::ENOENT));
        };
        if let (TreeKind::Views, Node::Host(n)) = (self.kind, node) {
            let mut buf = Vec::new();
            return match self.host.read(n, offset, size, &mut buf) {
                Ok(()) => send_data(chan, reply.data_header(unique, buf.len()), &buf),
                Err(e) => send(
                    chan,
                    reply.error(unique, e.raw_os_error().unwrap_or(libc::EIO)),
                ),
            };
        }
        let per_reader = match node {
            Node::ReaderView(v) => Some(v),
            Node::ContainerView { slot, view }
                if self.kind == TreeKind::Views && self.registry.is_converted(slot, view) =>
            {
                Some(view)
            }
            Node::ContainerView { .. } => None,
            _ => return send(chan, reply.error(unique, libc::EISDIR)),
        };
        if let Some(view) = per_reader {
            self.stats.read(view);
            // A page-cache fill of a node other containers share: nothing, never their bytes.
            if read_flags & READ_LOCKOWNER == 0 || fh == 0 {
                return send(chan, reply.data_header(unique, 0));
            }
            if self.handles.needs_render(fh, ino, offset) {
                self.handles
                    .rerender(fh, ino, |buf| self.render_for_reader(view, pid, buf));
            }
            let sent = self.handles.with_window(fh, offset, size, |bytes| {
                send_data(chan, reply.data_header(unique, bytes.len()), bytes)
            });
            return match sent {
                Some(r) => r,
                None => send(chan, reply.error(unique, libc::EBADF)),
            };
        }
        let Node::ContainerView { slot, view } = node else {
            return send(chan, reply.error(unique, libc::EISDIR));
        };
        self.stats.read(view);
        let r = self
            .content
            .current(ino, |out| self.render_slot(slot, view, out));
        let bytes = super::handles::window(&r.bytes, offset, size);
        send_data(chan, reply.data_header(unique, bytes.len()), bytes)
    }

    fn readdir(
        &self,
        ino: u64,
        offset: u64,
        size: u32,
        pid: u32,
        reply: &mut Reply,
        unique: u64,
    ) -> io::Result<()> {
        /// How a directory's static children are named.
        #[derive(Clone, Copy)]
        enum Kind {
            /// The views tree: links.
            Links,
            /// `.reader`: per-reader files.
            Reader,
            /// One container's directory.
            Slot(u64),
        }
        let node = Node::from_ino(ino).ok_or_else(|| errno(libc::ENOENT))?;
        if let (TreeKind::Views, Node::Host(n)) = (self.kind, node) {
            let dir = u32::from(libc::DT_DIR);
            let mut entries: Vec<Dirent> =
                vec![(ino, b".".into(), dir), (ROOT_ID, b"..".into(), dir)];
            entries.extend(
                self.host
                    .list(Some(n))?
                    .into_iter()
                    .map(|(i, name, t)| (i, name.into(), t)),
            );
            return list_entries(reply, unique, offset, size, &entries);
        }
        let listing = match (self.kind, node) {
            (TreeKind::Views, Node::Dir(i)) => Some((i, Kind::Links)),
            (TreeKind::Views, Node::ReaderDir(i)) => Some((i, Kind::Reader)),
            // `by-pid`, `.c` and the containers tree's root list nothing: their names (pids,
            // slots) are looked up on demand.
            (TreeKind::Views, Node::ByPid | Node::Slots) | (TreeKind::Containers, Node::Dir(0)) => {
                None
            }
            (_, Node::ContainerDir { slot, index }) => Some((index, Kind::Slot(slot))),
            _ => return Err(errno(libc::ENOTDIR)),
        };
        let dir = u32::from(libc::DT_DIR);
        let mut entries: Vec<Dirent> = vec![(ino, b".".into(), dir), (ROOT_ID, b"..".into(), dir)];
        if let Some((i, kind)) = listing {
            for e in tree::children(i) {
                let (n, t) = match (e, kind) {
                    (Entry::Dir(j), Kind::Links) => (Node::Dir(j), libc::DT_DIR),
                    (Entry::Dir(j), Kind::Reader) => (Node::ReaderDir(j), libc::DT_DIR),
                    (Entry::Dir(j), Kind::Slot(s)) => {
                        (Node::ContainerDir { slot: s, index: j }, libc::DT_DIR)
                    }
                    (Entry::View(v), Kind::Links) => (Node::Link(v), libc::DT_LNK),
                    (Entry::View(v), Kind::Reader) => (Node::ReaderView(v), libc::DT_REG),
                    (Entry::View(v), Kind::Slot(s)) => {
                        (Node::ContainerView { slot: s, view: v }, libc::DT_REG)
                    }
                };
                entries.push((n.ino(), e.name().as_bytes().into(), u32::from(t)));
            }
            if i == 0 && matches!(kind, Kind::Links) {
                entries.push((tree::BY_PID, BY_PID_NAME.as_bytes().into(), dir));
            }
            if i == tree::CPU_DIR && matches!(kind, Kind::Reader) {
                self.list_host_cpu_dir(pid, &mut entries);
            }
        }
        list_entries(reply, unique, offset, size, &entries)
    }

    /// The host's entries of the CPU directory for `pid`: its own `cpuN`, the rest as the host
    /// has them, less the names the views take.
    fn list_host_cpu_dir(&self, pid: u32, entries: &mut Vec<Dirent>) {
        let host = match self.host.list(None) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(dir = %self.host.root().display(), error = %e, "listing the host's CPU directory");
                return;
            }
        };
        let visible = self.visible_cpus(pid);
        let taken = |name: &[u8]| tree::child_view(tree::CPU_DIR, name).is_some();
        entries.extend(
            host.into_iter()
                .filter(|(_, name, _)| {
                    let shown = match passthrough::cpu_number(name) {
                        Some(n) => visible.as_ref().is_some_and(|v| v.contains(n)),
                        None => true,
                    };
                    shown && !taken(name)
                })
                .map(|(i, name, t)| (i, name.into(), t)),
        );
    }
}

/// A directory entry: node id, name (the tree's own names borrowed), `DT_*` type.
type Dirent = (u64, std::borrow::Cow<'static, [u8]>, u32);

/// Replies with `entries` from position `offset` on (offsets are positions in the list, so
/// each entry is listed once).
fn list_entries(
    reply: &mut Reply,
    unique: u64,
    offset: u64,
    size: u32,
    entries: &[Dirent],
) -> io::Result<()> {
    reply.dir_start(unique);
    for (i, (ino, name, t)) in entries.iter().enumerate().skip(offset as usize) {
        if !reply.dirent(size, *ino, i as u64 + 1, *t, name) {
            break;
        }
    }
    reply.done();
    Ok(())
}

/// The attributes of a host entry, read-only.
fn host_attr(m: &std::fs::Metadata) -> Attr {
    use std::os::unix::fs::MetadataExt;
    let ns = u64::try_from(m.mtime())
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(m.mtime_nsec()).unwrap_or(0));
    Attr {
        ino: m.ino(),
        size: m.size(),
        mode: m.mode() & !0o222,
        nlink: u32::try_from(m.nlink()).unwrap_or(u32::MAX),
        time_ns: ns,
    }
}
