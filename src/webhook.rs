//! `vproc webhook`: the mutating admission webhook that adds the views to the pods that ask for
//! them ([`vproc_mount::kube`] decides what to add). HTTPS (rustls), one thread per connection,
//! `POST /mutate` with an AdmissionReview, `GET /healthz`. The API server calls it with
//! `failurePolicy: Ignore`, so while it is down pods are admitted without the views, never
//! refused. Nothing here is on a container's read path.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vproc_mount::kube::{answer, Mode};

/// The largest request body accepted (an AdmissionReview of a large pod is tens of KiB).
const MAX_BODY: usize = 4 << 20;

/// How the webhook runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// Where the views are served on the nodes.
    pub source: PathBuf,
    /// The mode for pods that do not pick one.
    pub mode: Mode,
}

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate or key could not be read.
    #[error("reading {path}: {why}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// TLS could not be configured.
    #[error("configuring TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The address could not be listened on.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem = |path: &Path, why: rustls::pki_types::pem::Error| Error::Pem {
        path: path.to_owned(),
        why: why.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(cert, e))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    Ok(Arc::new(config))
}

/// Serves until the process is stopped.
pub fn serve(cfg: Config) -> Result<(), Error> {
    let tls = tls_config(&cfg.cert, &cfg.key)?;
    let listener = TcpListener::bind(cfg.listen).map_err(|source| Error::Listen {
        addr: cfg.listen,
        source,
    })?;
    tracing::info!(listen = %cfg.listen, source = %cfg.source.display(), mode = ?cfg.mode, "webhook serving");
    let cfg = Arc::new(cfg);
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (tls, cfg) = (tls.clone(), cfg.clone());
        let spawned = std::thread::Builder::new()
            .name("vproc:webhook".into())
            .spawn(move || {
                if let Err(e) = connection(conn, tls, &cfg) {
                    tracing::debug!(error = %e, "webhook connection");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "webhook: no thread for a connection");
        }
    }
    Ok(())
}

fn connection(conn: TcpStream, tls: Arc<rustls::ServerConfig>, cfg: &Config) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_write_timeout(Some(Duration::from_secs(10)))?;
    let session = rustls::ServerConnection::new(tls).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(session, conn);
    // One request per connection: the API server opens as many as it needs.
    let (method, path, body) = {
        let mut r = BufReader::new(&mut stream);
        let mut line = String::new();
        r.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        if length > MAX_BODY {
            drop(r);
            return respond(
                &mut stream,
                "413 Payload Too Large",
                "text/plain",
                b"too large\n",
            );
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body)?;
        (method, path, body)
    };
    let route = path.split('?').next().unwrap_or("");
    let r = route_request(&mut stream, &method, route, &path, &body, cfg);
    stream.conn.send_close_notify();
    let _ = stream.flush();
    r
}

fn route_request(
    stream: &mut impl Write,
    method: &str,
    route: &str,
    path: &str,
    body: &[u8],
    cfg: &Config,
) -> io::Result<()> {
    match (method, route) {
        ("GET", "/healthz") => respond(stream, "200 OK", "text/plain", b"ok\n"),
        ("POST", "/mutate") => {
            // `?mode=annotation` in the webhook's URL picks the default for its pods.
            let mode = path
                .split_once("?mode=")
                .and_then(|(_, m)| Mode::parse(m.split('&').next().unwrap_or("")))
                .unwrap_or(cfg.mode);
            let review: serde_json::Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return respond(stream, "400 Bad Request", "text/plain", b"not JSON\n"),
            };
            match answer(&review, &cfg.source, mode) {
                Ok(out) => {
                    let bytes = serde_json::to_vec(&out).map_err(io::Error::other)?;
                    respond(stream, "200 OK", "application/json", &bytes)
                }
                Err(why) => respond(
                    stream,
                    "400 Bad Request",
                    "text/plain",
                    format!("{why}\n").as_bytes(),
                ),
            }
        }
        _ => respond(stream, "404 Not Found", "text/plain", b"POST /mutate\n"),
    }
}

fn respond(w: &mut impl Write, status: &str, kind: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}
