//! Decoding one request read from `/dev/fuse`: the fixed header, then the opcode's arguments.
//! A request that is truncated or malformed becomes [`DecodeError`], never a panic.

use super::opcode;

/// `struct fuse_in_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InHeader {
    /// Length of the whole request.
    pub len: u32,
    /// What is asked.
    pub opcode: u32,
    /// The id the reply must carry.
    pub unique: u64,
    /// The node the request is about.
    pub nodeid: u64,
    /// The caller's uid (mapped into the connection's user namespace).
    pub uid: u32,
    /// The caller's gid.
    pub gid: u32,
    /// The calling thread as the mounter's pid namespace sees it (0 if it cannot).
    pub pid: u32,
}

/// Size of `struct fuse_in_header`.
pub const IN_HEADER_LEN: usize = 40;

/// One decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The header.
    pub header: InHeader,
    /// The operation and its arguments.
    pub op: Op<'a>,
}

/// The operations vproc answers; everything else is [`Op::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<'a> {
    /// Start of the connection.
    Init {
        /// Kernel's major version.
        major: u32,
        /// Kernel's minor version.
        minor: u32,
        /// Most bytes the kernel reads ahead.
        max_readahead: u32,
        /// What the kernel supports (both flag words).
        flags: u64,
    },
    /// Find `name` in the directory `nodeid`.
    Lookup {
        /// The name (no NUL).
        name: &'a [u8],
    },
    /// The kernel dropped `nlookup` references to `nodeid`.
    Forget {
        /// How many lookups are forgotten.
        nlookup: u64,
    },
    /// Several forgets at once.
    BatchForget {
        /// `(nodeid, nlookup)` pairs.
        items: Vec<(u64, u64)>,
    },
    /// The target of the link `nodeid`.
    Readlink,
    /// Attributes of `nodeid`.
    Getattr {
        /// The handle it was made through, if any.
        fh: Option<u64>,
    },
    /// Open a file.
    Open {
        /// `open(2)` flags.
        flags: u32,
    },
    /// Read from an open file.
    Read {
        /// The handle.
        fh: u64,
        /// Where.
        offset: u64,
        /// How much at most.
        size: u32,
        /// `FUSE_READ_*` flags.
        read_flags: u32,
    },
    /// The last close of a handle.
    Release {
        /// The handle.
        fh: u64,
    },
    /// `close(2)` of one file descriptor.
    Flush,
    /// Open a directory.
    Opendir,
    /// List a directory.
    Readdir {
        /// The handle.
        fh: u64,
        /// Position to continue from.
        offset: u64,
        /// Most bytes of entries.
        size: u32,
    },
    /// The last close of a directory handle.
    Releasedir,
    /// Filesystem statistics.
    Statfs,
    /// `access(2)`.
    Access {
        /// `R_OK`, `W_OK`, `X_OK` bits.
        mask: u32,
    },
    /// The caller gave up on request `unique`.
    Interrupt {
        /// The interrupted request.
        unique: u64,
    },
    /// The connection ends.
    Destroy,
    /// An operation that would change the tree (write, create, rename, setattr, ...).
    Modify,
    /// Any other opcode.
    Other,
}

impl Op<'_> {
    /// Whether the kernel expects no reply.
    pub fn no_reply(&self) -> bool {
        matches!(
            self,
            Op::Forget { .. } | Op::BatchForget { .. } | Op::Interrupt { .. }
        )
    }
}

/// Why a request could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than its header or its arguments.
    #[error("request truncated")]
    Truncated,
    /// The header's length disagrees with what was read.
    #[error("request length {header} but {read} bytes read")]
    BadLength {
        /// What the header says.
        header: u32,
        /// What was read.
        read: usize,
    },
}

/// Reads native-endian fields in order.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_ne_bytes(a))
    }

    /// A NUL-terminated name (the NUL is dropped).
    fn name(&mut self) -> Result<&'a [u8], DecodeError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Truncated)?;
        let name = &self.buf[..end];
        self.buf = &self.buf[end + 1..];
        Ok(name)
    }
}

/// Decodes the request in `buf` (exactly what one `read(2)` of `/dev/fuse` returned).
pub fn decode(buf: &[u8]) -> Result<Request<'_>, DecodeError> {
    let mut c = Cursor { buf };
    let header = InHeader {
        len: c.u32()?,
        opcode: c.u32()?,
        unique: c.u64()?,
        nodeid: c.u64()?,
        uid: c.u32()?,
        gid: c.u32()?,
        pid: c.u32()?,
    };
    // total_extlen and padding.
    c.u32()?;
    if header.len as usize != buf.len() {
        return Err(DecodeError::BadLength {
            header: header.len,
            read: buf.len(),
        });
    }
    let op = match header.opcode {
        opcode::INIT => {
            let major = c.u32()?;
            let minor = c.u32()?;
            let max_readahead = c.u32()?;
            let low = c.u32()?;
            // flags2 exists from 7.36 on; older kernels send 16 bytes.
            let high = if minor >= 36 { c.u32().unwrap_or(0) } else { 0 };
            Op::Init {
                major,
                minor,
                max_readahead,
                flags: u64::from(low) | (u64::from(high) << 32),
            }
        }
        opcode::LOOKUP => Op::Lookup { name: c.name()? },
        opcode::FORGET => Op::Forget { nlookup: c.u64()? },
        opcode::BATCH_FORGET => {
            let count = c.u32()?;
            c.u32()?;
            // Bounded by the request's own length: each item is 16 bytes.
            let mut items = Vec::with_capacity((count as usize).min(c.buf.len() / 16));
            for _ in 0..count {
                items.push((c.u64()?, c.u64()?));
            }
            Op::BatchForget { items }
        }
        opcode::GETATTR => {
            let flags = c.u32()?;
            c.u32()?;
            let fh = c.u64()?;
            Op::Getattr {
                fh: (flags & super::GETATTR_FH != 0).then_some(fh),
            }
        }
        opcode::READLINK => Op::Readlink,
        opcode::OPEN => Op::Open { flags: c.u32()? },
        opcode::READ => {
            let fh = c.u64()?;
            let offset = c.u64()?;
            let size = c.u32()?;
            let read_flags = c.u32()?;
            Op::Read {
                fh,
                offset,
                size,
                read_flags,
            }
        }
        opcode::RELEASE => Op::Release { fh: c.u64()? },
        opcode::FLUSH => Op::Flush,
        opcode::OPENDIR => Op::Opendir,
        opcode::READDIR => {
            let fh = c.u64()?;
            let offset = c.u64()?;
            let size = c.u32()?;
            Op::Readdir { fh, offset, size }
        }
        opcode::RELEASEDIR => Op::Releasedir,
        opcode::STATFS => Op::Statfs,
        opcode::ACCESS => Op::Access { mask: c.u32()? },
        opcode::INTERRUPT => Op::Interrupt { unique: c.u64()? },
        opcode::DESTROY => Op::Destroy,
        opcode::SETATTR
        | opcode::SYMLINK
        | opcode::MKNOD
        | opcode::MKDIR
        | opcode::UNLINK
        | opcode::RMDIR
        | opcode::RENAME
        | opcode::RENAME2
        | opcode::LINK
        | opcode::WRITE
        | opcode::CREATE
        | opcode::TMPFILE
        | opcode::SETXATTR
        | opcode::REMOVEXATTR
        | opcode::FALLOCATE => Op::Modify,
        _ => Op::Other,
    };
    Ok(Request { header, op })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: u32, nodeid: u64, body: &[u8]) -> Vec<u8> {
        let len = (IN_HEADER_LEN + body.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&opcode.to_ne_bytes());
        v.extend_from_slice(&7u64.to_ne_bytes());
        v.extend_from_slice(&nodeid.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&42u32.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn lookup_and_read() {
        let r = header(opcode::LOOKUP, 2, b"meminfo\0");
        let req = decode(&r).unwrap();
        assert_eq!(req.header.pid, 42);
        assert_eq!(req.header.unique, 7);
        assert_eq!(req.op, Op::Lookup { name: b"meminfo" });
        let mut body = Vec::new();
        body.extend_from_slice(&9u64.to_ne_bytes());
        body.extend_from_slice(&4096u64.to_ne_bytes());
        body.extend_from_slice(&131072u32.to_ne_bytes());
        body.extend_from_slice(&super::super::READ_LOCKOWNER.to_ne_bytes());
        body.extend_from_slice(&[0; 16]);
        let r = header(opcode::READ, 300, &body);
        assert_eq!(
            decode(&r).unwrap().op,
            Op::Read {
                fh: 9,
                offset: 4096,
                size: 131072,
                read_flags: super::super::READ_LOCKOWNER
            }
        );
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert_eq!(decode(&[0; 10]), Err(DecodeError::Truncated));
        let mut r = header(opcode::LOOKUP, 1, b"no-nul");
        assert_eq!(decode(&r), Err(DecodeError::Truncated));
        r.push(0);
        assert!(matches!(decode(&r), Err(DecodeError::BadLength { .. })));
        // A batch forget claiming more items than it carries.
        let mut body = Vec::new();
        body.extend_from_slice(&1000u32.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend_from_slice(&[0; 16]);
        assert_eq!(
            decode(&header(opcode::BATCH_FORGET, 0, &body)),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode(&header(opcode::MKDIR, 1, b"x\0")).unwrap().op,
            Op::Modify
        );
        assert_eq!(decode(&header(999, 1, b"")).unwrap().op, Op::Other);
    }
}
