//! The host's own files, read as raw bytes: the views rewrite values in the host's text rather
//! than regenerating it, so line order and unknown keys survive.
//!
//! Owns every read of `/proc/{meminfo,stat,cpuinfo,loadavg,swaps,diskstats,vmstat}` and
//! `/sys/devices/system/cpu/{online,possible,present}`, and the small parsers that pick values
//! out of them. Both roots are injectable for tests.
#![forbid(unsafe_code)]

pub mod meminfo;
pub mod stat;

use std::io::Read;
use std::path::{Path, PathBuf};

/// A host file vproc reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum HostFile {
    Meminfo,
    Stat,
    Cpuinfo,
    Loadavg,
    Swaps,
    Diskstats,
    CpuOnline,
    CpuPossible,
    CpuPresent,
    Vmstat,
    PressureCpu,
    PressureMemory,
    PressureIo,
}

impl HostFile {
    /// Every host file.
    pub const ALL: [HostFile; 13] = [
        HostFile::Meminfo,
        HostFile::Stat,
        HostFile::Cpuinfo,
        HostFile::Loadavg,
        HostFile::Swaps,
        HostFile::Diskstats,
        HostFile::CpuOnline,
        HostFile::CpuPossible,
        HostFile::CpuPresent,
        HostFile::Vmstat,
        HostFile::PressureCpu,
        HostFile::PressureMemory,
        HostFile::PressureIo,
    ];

    fn path_in(self, roots: &HostRoots) -> PathBuf {
        let (root, rel) = match self {
            HostFile::Meminfo => (&roots.proc, "meminfo"),
            HostFile::Stat => (&roots.proc, "stat"),
            HostFile::Cpuinfo => (&roots.proc, "cpuinfo"),
            HostFile::Loadavg => (&roots.proc, "loadavg"),
            HostFile::Swaps => (&roots.proc, "swaps"),
            HostFile::Diskstats => (&roots.proc, "diskstats"),
            HostFile::CpuOnline => (&roots.sys, "devices/system/cpu/online"),
            HostFile::CpuPossible => (&roots.sys, "devices/system/cpu/possible"),
            HostFile::CpuPresent => (&roots.sys, "devices/system/cpu/present"),
            HostFile::Vmstat => (&roots.proc, "vmstat"),
            HostFile::PressureCpu => (&roots.proc, "pressure/cpu"),
            HostFile::PressureMemory => (&roots.proc, "pressure/memory"),
            HostFile::PressureIo => (&roots.proc, "pressure/io"),
        };
        root.join(rel)
    }
}

/// A host file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}")]
pub struct Error {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Where host files are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoots {
    /// `/proc` on a host.
    pub proc: PathBuf,
    /// `/sys` on a host.
    pub sys: PathBuf,
}

impl Default for HostRoots {
    fn default() -> Self {
        Self::at(Path::new("/proc"), Path::new("/sys"))
    }
}

impl HostRoots {
    /// Roots elsewhere (fixtures).
    pub fn at(proc: &Path, sys: &Path) -> Self {
        Self {
            proc: proc.to_owned(),
            sys: sys.to_owned(),
        }
    }

    /// The path of a host file.
    pub fn path(&self, f: HostFile) -> PathBuf {
        f.path_in(self)
    }

    /// Reads a host file into `buf` (cleared first).
    pub fn read_into(&self, f: HostFile, buf: &mut Vec<u8>) -> Result<(), Error> {
        Self::read_path(&self.path(f), buf)
    }

    /// Reads any file into `buf` (cleared first).
    pub fn read_path(path: &Path, buf: &mut Vec<u8>) -> Result<(), Error> {
        buf.clear();
        std::fs::File::open(path)
            .and_then(|mut file| file.read_to_end(buf))
            .map(|_| ())
            .map_err(|source| Error {
                path: path.to_owned(),
                source,
            })
    }
}

/// Iterates the lines of a text, each without its `\n`; a final line without a newline is
/// still yielded, an empty tail is not.
pub fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|&b| b == b'\n')
        .filter(move |_| !text.is_empty())
}
