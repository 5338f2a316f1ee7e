//! Reading one kernel file into a reused buffer, and writing a control file, with the path in
//! every error.

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

/// Writes `value` to a control file (one `write(2)`, as the kernel expects).
pub fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| Error::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    })
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

/// Reads `path` as `key value` lines and hands each pair to `f`.
pub fn read_key_values(
    path: &Path,
    buf: &mut Vec<u8>,
    mut f: impl FnMut(&[u8], &[u8]),
) -> Result<()> {
    read_into(path, buf)?;
    for (k, v) in parse::key_values(buf) {
        f(k, v);
    }
    Ok(())
}

thread_local! {
    /// This thread's scratch buffer for small `/proc` files, reused by every read.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
}

/// Runs `f` with this thread's scratch buffer (a fresh one if it is already in use), so hot
/// paths read `/proc/<pid>/...` files without allocating.
pub fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut Vec::with_capacity(4096)),
    })
}
