//! The worker's control endpoint: a small HTTP/1.0 server on a unix socket
//! (`/run/vproc/serve/<mountpoint>.sock`: `GET /status` as JSON, `GET /metrics`, `GET /healthz`)
//! and, if asked, on a TCP address (`/metrics` and `/healthz` only: the status names every
//! container's cgroup). One request per connection, answered on the accepting thread: scrapes
//! are rare and small, and nothing here touches the read path.
//!
//! A new worker binds a fresh socket and renames it over the path, so `vproc status` always
//! reaches the worker that serves; on TCP, both workers of an upgrade listen on the port
//! (`SO_REUSEPORT`) until the old one exits.

use super::report::Sources;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most a request may be (its headers included).
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Which endpoints a listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Everything (the unix socket: root only).
    All,
    /// `/metrics` and `/healthz` (TCP).
    Metrics,
}

/// Starts the listeners' threads: the unix socket at `path`, and `tcp` if given.
pub fn start(sources: Sources, path: &Path, tcp: Option<SocketAddr>) -> io::Result<()> {
    let unix = bind_unix(path)?;
    let s = sources.clone();
    std::thread::Builder::new()
        .name("vproc:control".into())
        .spawn(move || {
            for conn in unix.incoming().flatten() {
                let _ = answer(conn, &s, Scope::All);
            }
        })?;
    if let Some(addr) = tcp {
        let listener = bind_tcp(addr)?;
        std::thread::Builder::new()
            .name("vproc:metrics".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let _ = answer(conn, &sources, Scope::Metrics);
                }
            })?;
    }
    Ok(())
}

fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let fresh = PathBuf::from(format!("{}.{}", path.display(), std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let l = UnixListener::bind(&fresh)?;
    std::fs::rename(&fresh, path)?;
    Ok(l)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
        SockaddrIn, SockaddrIn6,
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    match addr {
        SocketAddr::V4(a) => bind(raw, &SockaddrIn::from(a)),
        SocketAddr::V6(a) => bind(raw, &SockaddrIn6::from(a)),
    }?;
    listen(&fd, Backlog::new(64).unwrap_or(Backlog::MAXCONN))?;
    Ok(TcpListener::from(fd))
}

/// Answers one connection.
fn answer<S: Read + Write + Timeouts>(mut conn: S, src: &Sources, scope: Scope) -> io::Result<()> {
    conn.set_timeouts(CLIENT_TIMEOUT)?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return respond(
                &mut conn,
                "413 Payload Too Large",
                "text/plain",
                "too large\n",
            );
        }
    }
    let line = String::from_utf8_lossy(buf.split(|&b| b == b'\n').next().unwrap_or_default())
        .trim()
        .to_owned();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut conn,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        );
    }
    let path = target.split('?').next().unwrap_or("");
    match (path, scope) {
        ("/metrics", _) => respond(
            &mut conn,
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &src.metrics(),
        ),
        ("/healthz", _) => respond(&mut conn, "200 OK", "text/plain", "ok\n"),
        ("/status", Scope::All) => {
            let body = serde_json::to_string_pretty(&src.report())
                .map_err(|e| io::Error::other(e.to_string()))?;
            respond(&mut conn, "200 OK", "application/json", &(body + "\n"))
        }
        _ => respond(&mut conn, "404 Not Found", "text/plain", "try /metrics\n"),
    }
}

fn respond(conn: &mut impl Write, status: &str, kind: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

/// Read and write timeouts of a connection.
trait Timeouts {
    fn set_timeouts(&self, t: Duration) -> io::Result<()>;
}

impl Timeouts for UnixStream {
    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

impl Timeouts for std::net::TcpStream {
    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

/// Asks the worker serving `mountpoint` for `path` (`/status`, `/metrics`) over its unix
/// socket; the body of a 200 answer.
pub fn get(mountpoint: &Path, path: &str) -> io::Result<String> {
    let sock = super::supervisor::status::control_path(mountpoint);
    let mut conn = UnixStream::connect(&sock).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "no vproc serve answers at {} ({e}); is it running for {}?",
                sock.display(),
                mountpoint.display()
            ),
        )
    })?;
    conn.set_timeouts(Duration::from_secs(10))?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("a malformed answer"))?;
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200 ") {
        return Err(io::Error::other(format!("the daemon answered {status}")));
    }
    Ok(body.to_owned())
}
