//! The bottom layer: the text files the kernel writes under `/proc` and `/sys`, read with the
//! path in every error and parsed by exact keys, allocating nothing on the hot path.
//!
//! Owns the value shapes those files use ([`parse`], [`CpuSet`]), number formatting for output
//! ([`itoa`]), the mount table ([`mountinfo`]) and the per-process files under `/proc/<pid>`
//! ([`pid`]), and the few raw system calls the layers above need ([`syscall`], its only unsafe
//! code). It knows nothing about cgroups, containers or views: every other module builds on it,
//! and it imports none of them.
#![deny(unsafe_code)]

pub mod cpu_set;
pub mod itoa;
pub mod mountinfo;
pub mod parse;
pub mod pid;
pub mod read;
pub mod syscall;
pub mod systemd;

pub use cpu_set::CpuSet;
pub use parse::ParseError;

use std::io;
use std::path::PathBuf;

/// A kernel file could not be read, or did not hold what the kernel writes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read (missing, cgroup deleted, process exited).
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A control file could not be written (the kernel rejected the value, or the file is
    /// missing).
    #[error("writing {value:?} to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file was read but its content is not what the kernel writes.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ParseError,
    },
}

impl Error {
    /// Whether the file does not exist: for optional files (an ancestor without a limit file, a
    /// kernel without swap accounting) that is not an error.
    pub fn is_missing(&self) -> bool {
        matches!(self, Error::Read { source, .. } | Error::Write { source, .. }
            if source.kind() == io::ErrorKind::NotFound)
    }

    /// Whether the thing read no longer exists (a process exited, a cgroup was removed):
    /// expected in a daemon, not worth a warning.
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::Read { source, .. }
            if matches!(source.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::ENODEV)))
    }
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// An error and every `source()` below it, as one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        // A message that already ends with its cause's text is not repeated.
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}
