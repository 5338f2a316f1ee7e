//! The upgrade hand-over: what a running supervisor gives the binary that replaces it by
//! `exec`, as one typed, versioned message, and the check that the successor understands it.
//!
//! The message travels in a memfd whose number is in `VPROC_HANDOVER_FD`; the fds it names are
//! inherited across the exec. Before exec'ing, the supervisor asks the binary on disk which
//! versions it reads (`vproc handover-versions`): a successor that cannot take over says so
//! while the running one still can keep serving, instead of failing after the exec, when the
//! old image is gone. Version 0 is the older command-line form (`--takeover-conn` ...), still
//! read so that an older vproc can be upgraded to this one.

use std::fmt::Write as _;
use std::io::{Read, Seek, Write};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The version this binary writes.
pub const VERSION: u32 = 1;
/// The versions this binary reads.
pub const READS: &[u32] = &[0, 1];
/// The environment variable that names the message's fd.
pub const ENV: &str = "VPROC_HANDOVER_FD";

/// Everything a successor needs to take over without a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The message's version (what wrote it).
    pub version: u32,
    /// The mountpoint.
    pub mountpoint: PathBuf,
    /// The views tree's connection.
    pub views_conn: RawFd,
    /// Its channels, one per worker thread.
    pub views_channels: Vec<RawFd>,
    /// The containers tree's connection, if there is one (version 0 had none).
    pub containers_conn: Option<RawFd>,
    /// Its channels.
    pub containers_channels: Vec<RawFd>,
    /// The worker serving now.
    pub worker: i32,
    /// Its generation.
    pub generation: u64,
    /// Threads of the views tree.
    pub threads: usize,
    /// Cache lifetime in milliseconds.
    pub cache_ms: u64,
    /// Judge readers by their own cgroup.
    pub per_caller: bool,
    /// Where `/metrics` is served over TCP (a key older writers did not send).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a hand-over message at all.
    #[error("not a vproc hand-over message")]
    NotAMessage,
    /// A version this binary does not read.
    #[error("hand-over version {0} (this binary reads {READS:?})")]
    Version(u32),
    /// A field is missing or malformed.
    #[error("hand-over field `{0}` missing or malformed")]
    Field(&'static str),
    /// The message could not be passed.
    #[error("passing the hand-over: {0}")]
    Io(String),
}

fn fds(list: &[RawFd]) -> String {
    let v: Vec<String> = list.iter().map(|f| f.to_string()).collect();
    v.join(",")
}

fn parse_fds(s: &str) -> Option<Vec<RawFd>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(|v| v.trim().parse().ok()).collect()
}

impl Handover {
    /// The message text.
    pub fn encode(&self) -> String {
        let mut s = format!("vproc-handover {}\n", self.version);
        let _ = writeln!(s, "mountpoint={}", self.mountpoint.display());
        let _ = writeln!(s, "views_conn={}", self.views_conn);
        let _ = writeln!(s, "views_channels={}", fds(&self.views_channels));
        if let Some(c) = self.containers_conn {
            let _ = writeln!(s, "containers_conn={c}");
        }
        let _ = writeln!(s, "containers_channels={}", fds(&self.containers_channels));
        let _ = writeln!(s, "worker={}", self.worker);
        let _ = writeln!(s, "generation={}", self.generation);
        let _ = writeln!(s, "threads={}", self.threads);
        let _ = writeln!(s, "cache_ms={}", self.cache_ms);
        let _ = writeln!(s, "per_caller={}", self.per_caller);
        if let Some(a) = self.metrics_addr {
            let _ = writeln!(s, "metrics_addr={a}");
        }
        s
    }

    /// Reads a message; unknown keys are ignored (a newer writer of the same version may add
    /// some), missing ones are errors.
    pub fn decode(text: &str) -> Result<Handover, Error> {
        let mut lines = text.lines();
        let version: u32 = lines
            .next()
            .and_then(|l| l.strip_prefix("vproc-handover "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(Error::NotAMessage)?;
        if version != 1 {
            return Err(Error::Version(version));
        }
        let mut map = std::collections::HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once('=') {
                map.insert(k, v);
            }
        }
        let get = |k: &'static str| map.get(k).copied().ok_or(Error::Field(k));
        let num = |k: &'static str| -> Result<u64, Error> {
            get(k)?.parse().map_err(|_| Error::Field(k))
        };
        Ok(Handover {
            version,
            mountpoint: PathBuf::from(get("mountpoint")?),
            views_conn: num("views_conn")? as RawFd,
            views_channels: parse_fds(get("views_channels")?)
                .ok_or(Error::Field("views_channels"))?,
            containers_conn: match map.get("containers_conn") {
                Some(v) => Some(v.parse().map_err(|_| Error::Field("containers_conn"))?),
                None => None,
            },
            containers_channels: parse_fds(map.get("containers_channels").copied().unwrap_or(""))
                .ok_or(Error::Field("containers_channels"))?,
            worker: i32::try_from(num("worker")?).map_err(|_| Error::Field("worker"))?,
            generation: num("generation")?,
            threads: usize::try_from(num("threads")?).map_err(|_| Error::Field("threads"))?,
            cache_ms: num("cache_ms")?,
            per_caller: get("per_caller")? == "true",
            metrics_addr: match map.get("metrics_addr") {
                Some(v) => Some(v.parse().map_err(|_| Error::Field("metrics_addr"))?),
                None => None,
            },
        })
    }

    /// Writes the message into a memfd that survives `exec`, and returns it (its number goes in
    /// [`ENV`]).
    pub fn to_memfd(&self) -> Result<std::fs::File, Error> {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let fd = memfd_create(c"vproc-handover", MFdFlags::empty())
            .map_err(|e| Error::Io(e.to_string()))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(self.encode().as_bytes())
            .and_then(|_| f.rewind())
            .map_err(|e| Error::Io(e.to_string()))?;
        Ok(f)
    }

    /// Reads the message from the fd named in [`ENV`], if this process was given one.
    pub fn from_env() -> Option<Result<Handover, Error>> {
        let fd: RawFd = std::env::var(ENV).ok()?.parse().ok()?;
        std::env::remove_var(ENV);
        // Read through /proc (no fd ownership to claim), then closed: it was passed for this.
        let mut text = String::new();
        let r = std::fs::File::open(format!("/proc/self/fd/{fd}"))
            .and_then(|mut f| f.read_to_string(&mut text));
        let _ = nix::unistd::close(fd);
        Some(match r {
            Ok(_) => Handover::decode(&text),
            Err(e) => Err(Error::Io(e.to_string())),
        })
    }

    /// The older command-line form: one connection, its channels, the worker and generation.
    #[allow(clippy::too_many_arguments)]
    pub fn from_legacy(
        mountpoint: &Path,
        conn: RawFd,
        channels: Vec<RawFd>,
        worker: i32,
        generation: u64,
        threads: usize,
        cache_ms: u64,
        per_caller: bool,
    ) -> Handover {
        Handover {
            version: 0,
            mountpoint: mountpoint.to_owned(),
            views_conn: conn,
            views_channels: channels,
            containers_conn: None,
            containers_channels: Vec::new(),
            worker,
            generation,
            threads,
            cache_ms,
            per_caller,
            metrics_addr: None,
        }
    }
}

/// Why the binary on disk cannot take over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It could not be asked (missing, not executable, hung).
    #[error("{exe} could not be asked which hand-over versions it reads: {why}")]
    Unreachable {
        /// The binary.
        exe: PathBuf,
        /// What happened.
        why: String,
    },
    /// It does not read the version this binary writes.
    #[error("{exe} reads hand-over versions {reads:?}, not version {VERSION}: it cannot take over; the running version keeps serving")]
    Incompatible {
        /// The binary.
        exe: PathBuf,
        /// What it said it reads.
        reads: Vec<u32>,
    },
}

/// Asks `exe` which hand-over versions it reads (`exe handover-versions`, 5 s at most).
pub fn check_successor(exe: &Path) -> Result<(), Refusal> {
    let unreachable = |why: String| Refusal::Unreachable {
        exe: exe.to_owned(),
        why,
    };
    let mut child = Command::new(exe)
        .arg("handover-versions")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| unreachable(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(unreachable("it did not answer within 5 s".into()));
            }
        }
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    let reads: Vec<u32> = out
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    if reads.contains(&VERSION) {
        Ok(())
    } else {
        Err(Refusal::Incompatible {
            exe: exe.to_owned(),
            reads,
        })
    }
}

pub use crate::fs::sys::inheritable;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handover {
        Handover {
            version: VERSION,
            mountpoint: PathBuf::from("/var/lib/vproc"),
            views_conn: 5,
            views_channels: vec![6, 7],
            containers_conn: Some(8),
            containers_channels: vec![9],
            worker: 1234,
            generation: 3,
            threads: 2,
            cache_ms: 100,
            per_caller: true,
            metrics_addr: Some("127.0.0.1:9477".parse().unwrap()),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let h = sample();
        assert_eq!(Handover::decode(&h.encode()), Ok(h.clone()));
        let mut extra = h.encode();
        extra.push_str("future_key=1\n");
        assert_eq!(Handover::decode(&extra), Ok(h.clone()));
        // A predecessor that did not know the metrics address.
        let older = h.encode().replace("metrics_addr=127.0.0.1:9477\n", "");
        assert_eq!(Handover::decode(&older).map(|o| o.metrics_addr), Ok(None));
        assert_eq!(
            Handover::decode("vproc-handover 2\nmountpoint=/x\n"),
            Err(Error::Version(2))
        );
        assert_eq!(Handover::decode("garbage"), Err(Error::NotAMessage));
        let missing = h.encode().replace("worker=1234\n", "");
        assert_eq!(Handover::decode(&missing), Err(Error::Field("worker")));
        let bad = h
            .encode()
            .replace("views_channels=6,7", "views_channels=6,x");
        assert_eq!(Handover::decode(&bad), Err(Error::Field("views_channels")));
    }
}
