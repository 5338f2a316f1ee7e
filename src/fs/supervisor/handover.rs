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

/// How long the binary on disk may take to say which versions it reads. Generous: a cold
/// start of a large binary on a loaded machine takes seconds, and the supervisor serves and
/// reaps meanwhile (the probe does not block it); only a hung binary reaches it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// The question to the binary on disk (`exe handover-versions`), asked without waiting: the
/// supervisor goes on reaping and answering signals, and reads the answer once it reaps the
/// probe's process ([`Probe::pid`]), or gives up at [`Probe::deadline`].
#[derive(Debug)]
pub struct Probe {
    exe: PathBuf,
    pid: nix::unistd::Pid,
    out: std::process::ChildStdout,
    timeout: Duration,
    deadline: Instant,
}

impl Probe {
    /// Starts `exe handover-versions`; its process is the caller's to reap.
    pub fn start(exe: &Path, timeout: Duration) -> Result<Probe, Refusal> {
        let mut child = Command::new(exe)
            .arg("handover-versions")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| unreachable(exe, e.to_string()))?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| unreachable(exe, "no output pipe".into()))?;
        Ok(Probe {
            exe: exe.to_owned(),
            pid: nix::unistd::Pid::from_raw(child.id() as i32),
            out,
            timeout,
            deadline: Instant::now() + timeout,
        })
    }

    /// The probe's process, which the supervisor's reaping collects.
    pub fn pid(&self) -> nix::unistd::Pid {
        self.pid
    }

    /// When to give up on it.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The binary asked.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Its answer, once its process has exited (and been reaped): whatever it wrote is in the
    /// pipe, and the pipe is at its end.
    pub fn verdict(mut self) -> Result<(), Refusal> {
        let mut out = String::new();
        let _ = self.out.read_to_string(&mut out);
        judge(&self.exe, &out)
    }

    /// Gives up on a probe that did not answer in time: kills it. Its exit is reaped with the
    /// supervisor's other children, not waited for here: a binary on a hung filesystem can
    /// sit in exec, unkillable, and the supervisor must go on serving.
    pub fn abandon(self) -> Refusal {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let waited = self.timeout.as_secs_f64();
        unreachable(&self.exe, format!("it did not answer within {waited} s"))
    }
}

fn unreachable(exe: &Path, why: String) -> Refusal {
    Refusal::Unreachable {
        exe: exe.to_owned(),
        why,
    }
}

/// What `handover-versions` printed, judged: the successor must read [`VERSION`].
fn judge(exe: &Path, out: &str) -> Result<(), Refusal> {
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

    /// A probe of a script in `dir` that runs `body` (retried while another test thread's
    /// fork still holds the script open for writing: ETXTBSY).
    fn probe_of(dir: &Path, name: &str, body: &str, timeout: Duration) -> Probe {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join(name);
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        for _ in 0..100 {
            match Probe::start(&exe, timeout) {
                Ok(p) => return p,
                Err(Refusal::Unreachable { why, .. }) if why.contains("busy") => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{name} stayed busy");
    }

    fn answer(p: Probe) -> Result<(), Refusal> {
        nix::sys::wait::waitpid(p.pid(), None).unwrap();
        p.verdict()
    }

    #[test]
    fn a_probe_reads_the_successors_versions_once_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let long = Duration::from_secs(60);
        // It must be asked the right question.
        let ok = probe_of(
            dir.path(),
            "ok",
            r#"[ "$1" = handover-versions ] && echo "0 1""#,
            long,
        );
        assert_eq!(answer(ok), Ok(()));
        let old = probe_of(dir.path(), "old", "echo 0", long);
        assert_eq!(
            answer(old),
            Err(Refusal::Incompatible {
                exe: dir.path().join("old"),
                reads: vec![0],
            })
        );
        // A binary too old to know the command prints an error and nothing else.
        let ancient = probe_of(
            dir.path(),
            "ancient",
            "echo unknown command >&2; exit 2",
            long,
        );
        assert!(
            matches!(answer(ancient), Err(Refusal::Incompatible { reads, .. }) if reads.is_empty())
        );
        let missing = Probe::start(&dir.path().join("missing"), long);
        assert!(matches!(missing, Err(Refusal::Unreachable { .. })));
    }

    #[test]
    fn a_hung_probe_is_killed_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let hung = probe_of(
            dir.path(),
            "hung",
            "exec sleep 600",
            Duration::from_millis(50),
        );
        let pid = hung.pid();
        let refusal = hung.abandon();
        // Killed (the supervisor reaps it with its other children).
        let reaped = nix::sys::wait::waitpid(pid, None).unwrap();
        assert_eq!(
            reaped,
            nix::sys::wait::WaitStatus::Signaled(pid, nix::sys::signal::Signal::SIGKILL, false)
        );
        assert_eq!(
            refusal.to_string(),
            format!(
                "{} could not be asked which hand-over versions it reads: it did not answer within 0.05 s",
                dir.path().join("hung").display()
            )
        );
    }
}
