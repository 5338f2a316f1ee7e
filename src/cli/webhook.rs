//! `vproc webhook`: the Kubernetes mutating admission webhook (deploy/kubernetes/webhook.yaml).

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vproc_mount::kube::Mode;

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// The TLS certificate chain (PEM), for the Service's DNS name.
    #[arg(long)]
    tls_cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    tls_key: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: std::net::SocketAddr,
    /// Where vproc serves the views on the nodes.
    #[arg(long, default_value = "/var/lib/vproc")]
    source: PathBuf,
    /// How views get into pods that do not pick (annotation vproc.io/mode): `volumes`
    /// (hostPath volumes; any runtime; not admissible under Pod Security "baseline") or
    /// `annotation` (io.vproc.enable for the OCI hook: CRI-O, or containerd with NRI's hook
    /// injector).
    #[arg(long, default_value = "volumes", value_parser = ["volumes", "annotation"])]
    mode: String,
}

pub fn run(a: WebhookArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mode = Mode::parse(&a.mode).ok_or("--mode is volumes or annotation")?;
    vproc::webhook::serve(vproc::webhook::Config {
        listen: a.listen,
        cert: a.tls_cert,
        key: a.tls_key,
        source: a.source,
        mode,
    })?;
    Ok(ExitCode::SUCCESS)
}
