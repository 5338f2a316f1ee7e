//! Reading one cgroup or /proc file into a reused buffer, with the path in every error.

use super::parse::{self, ParseError};
use super::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Reads `path` into `buf` (cleared first), so a caller can reuse one buffer for many files.
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    let wrap = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(wrap)?;
    f.read_to_end(buf).map_err(wrap)?;
    Ok(())
}

/// Reads a whole file into a fresh buffer. Sized up front: `read_to_end` on an empty buffer
/// probes with 32-byte reads, each a syscall on procfs.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(4096);
    read_into(path, &mut buf)?;
    Ok(buf)
}

/// Attaches `path` to a parse error.
pub fn parsed<T>(path: &Path, r: std::result::Result<T, ParseError>) -> Result<T> {
    r.map_err(|source| Error::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Reads a file holding one number.
pub fn read_u64(path: &Path, buf: &mut Vec<u8>) -> Result<u64> {
    read_into(path, buf)?;
    parsed(path, parse::parse_u64(buf))
}

/// Whether a read failed because the file does not exist, which for optional files
/// (an ancestor without a limit file, a kernel without swap accounting) is not an error.
pub fn is_missing(e: &Error) -> bool {
    matches!(e, Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}
