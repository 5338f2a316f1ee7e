//! The files of one process under `/proc/<pid>`: `status` (`PPid`, `NSpid`, `Threads`), `stat`
//! (state and start time) and `ns/pid`. The process root is injectable (`proc_root`), so tests
//! run on fixture trees.

use super::parse::{self, parse_u64, ParseError};
use super::read::{self, parsed, with_scratch};
use super::{Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `<proc_root>/<pid>`.
pub fn dir(proc_root: &Path, pid: u32) -> PathBuf {
    let mut b = [0; 20];
    let digits = super::itoa::fmt_u64(&mut b, u64::from(pid));
    // The digits are ASCII, so this never fails; an empty name would only ever miss.
    proc_root.join(std::str::from_utf8(digits).unwrap_or_default())
}

/// The fields of `/proc/<pid>/status` resolution needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Parent pid in the reader's pid namespace (0 for the host's init).
    pub ppid: u32,
    /// How many pid namespaces the task is visible in (1 = host only).
    pub nspid_depth: usize,
    /// Its pid in its own, innermost pid namespace.
    pub innermost_pid: u32,
}

impl Status {
    /// Reads `<proc_pid>/status`.
    pub fn read(proc_pid: &Path) -> Result<Self> {
        let path = proc_pid.join("status");
        with_scratch(|buf| {
            read::read_into(&path, buf)?;
            parsed(&path, Self::parse(buf))
        })
    }

    /// Parses `PPid:` and `NSpid:` lines.
    pub fn parse(text: &[u8]) -> std::result::Result<Self, ParseError> {
        let mut ppid = None;
        let mut nspid = None;
        for line in text.split(|&b| b == b'\n') {
            if let Some(v) = line.strip_prefix(b"PPid:") {
                ppid = Some(to_u32(parse_u64(v)?)?);
            } else if let Some(v) = line.strip_prefix(b"NSpid:") {
                let mut depth = 0;
                let mut last = 0;
                for w in parse::words(v) {
                    depth += 1;
                    last = to_u32(parse_u64(w)?)?;
                }
                if depth == 0 {
                    return Err(ParseError::Empty);
                }
                nspid = Some((depth, last));
            }
        }
        let ppid = ppid.ok_or(ParseError::MissingKey("PPid"))?;
        let (nspid_depth, innermost_pid) = nspid.ok_or(ParseError::MissingKey("NSpid"))?;
        Ok(Self {
            ppid,
            nspid_depth,
            innermost_pid,
        })
    }
}

fn to_u32(n: u64) -> std::result::Result<u32, ParseError> {
    u32::try_from(n).map_err(|_| ParseError::Overflow)
}

/// Start time of a process in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub fn start_ticks(proc_pid: &Path) -> Result<u64> {
    let path = proc_pid.join("stat");
    with_scratch(|buf| {
        read::read_into(&path, buf)?;
        parsed(&path, parse_start_ticks(buf))
    })
}

/// Fields of `/proc/<pid>/stat` counted after the last `)`: the comm field may hold spaces
/// and parentheses.
fn after_comm(stat: &[u8]) -> std::result::Result<&[u8], ParseError> {
    let close = stat
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(ParseError::MissingKey("comm"))?;
    Ok(&stat[close + 1..])
}

/// The start time (field 22) of a `/proc/<pid>/stat` text.
pub fn parse_start_ticks(stat: &[u8]) -> std::result::Result<u64, ParseError> {
    // After ")": field 3 (state) is the first word; starttime is field 22.
    parse::words(after_comm(stat)?)
        .nth(22 - 3)
        .ok_or(ParseError::MissingKey("starttime"))
        .and_then(parse_u64)
}

/// The state letter (field 3: `R`, `S`, `D`, ...) of a `/proc/<pid>/stat` text.
pub fn parse_state(stat: &[u8]) -> std::result::Result<u8, ParseError> {
    parse::words(after_comm(stat)?)
        .next()
        .and_then(|w| w.first().copied())
        .ok_or(ParseError::MissingKey("state"))
}

/// The inode of the pid namespace of `<proc_pid>` (`ns/pid`), which names the namespace.
pub fn pidns_inode(proc_pid: &Path) -> Result<u64> {
    let path = proc_pid.join("ns/pid");
    std::fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|source| Error::Read { path, source })
}

/// The task's pid in its innermost pid namespace (the last `NSpid` field).
pub fn innermost_pid(proc_pid: &Path) -> Result<u32> {
    Status::read(proc_pid).map(|s| s.innermost_pid)
}

/// How many threads this process has (`Threads:` of `/proc/self/status`).
pub fn own_thread_count() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = Status::parse(b"Name:\tsh\nPPid:\t10\nNSpid:\t1234\t7\t1\n").unwrap();
        assert_eq!(
            s,
            Status {
                ppid: 10,
                nspid_depth: 3,
                innermost_pid: 1
            }
        );
        assert!(Status::parse(b"PPid:\t1\n").is_err());
        assert!(Status::parse(b"PPid:\tx\nNSpid:\t1\n").is_err());
        assert!(Status::parse(b"PPid:\t1\nNSpid:\n").is_err());
    }

    #[test]
    fn stat_fields() {
        let stat = b"42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_start_ticks(stat), Ok(98765));
        assert_eq!(parse_state(stat), Ok(b'S'));
        assert_eq!(parse_state(b"12 (x)) D 1"), Ok(b'D'));
        assert!(parse_start_ticks(b"42 (x) S 1").is_err());
        assert!(parse_start_ticks(b"no paren").is_err());
        assert!(parse_state(b"garbage").is_err());
        assert_eq!(dir(Path::new("/proc"), 42), PathBuf::from("/proc/42"));
    }
}
