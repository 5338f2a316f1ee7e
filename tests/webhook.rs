//! `vproc webhook` over TLS, sent AdmissionReviews for real pod specs (tests/k8s/pods) as the
//! API server sends them; each answer's patch applied with an RFC 6902 library and the patched
//! pod checked against the official Kubernetes client's models (tests/k8s/admission.py).

mod common;

use common::{wait_for, Proc};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have_python_modules() -> bool {
    Command::new("python3")
        .args(["-c", "import kubernetes, yaml, jsonpatch"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_webhook_adds_views_that_the_kubernetes_models_accept() {
    require!(
        Command::new("openssl")
            .arg("version")
            .status()
            .is_ok_and(|s| s.success()),
        "openssl is not installed (apt-get install openssl)"
    );
    require!(
        have_python_modules(),
        "python3 -m pip install kubernetes pyyaml jsonpatch"
    );
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    // A self-signed certificate for the address the test calls, as cert-manager would issue
    // one for the Service's name.
    let o = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=vproc-webhook",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _webhook = Proc::spawn(
        Command::new(common::vproc_bin())
            .arg("webhook")
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--listen", &listen, "--log-level", "warn"]),
    );
    wait_for("the webhook", || {
        std::net::TcpStream::connect(&listen).ok().map(|_| ())
    });
    let pods = root().join("tests/k8s/pods");
    let run = |url: &str| -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(&pods)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let o = Command::new("python3")
            .arg(root().join("tests/k8s/admission.py"))
            .arg(url)
            .arg(&cert)
            .args(&files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let by_pod = |out: &[Value], name: &str| -> Value {
        out.iter().find(|r| r["pod"] == name).cloned().unwrap()
    };
    let view = |p: &str| format!("/var/lib/vproc/{p}");

    // The default: hostPath volumes.
    let out = run(&format!("https://127.0.0.1:{port}/mutate"));
    assert_eq!(out.len(), 5);
    for r in &out {
        assert_eq!(r["allowed"], true, "{r}");
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    }
    // Every container (the init container too) sees every view.
    let sidecar = by_pod(&out, "sidecar.yaml");
    for c in ["migrate", "api", "log-shipper"] {
        let views = sidecar["views"][c].as_array().unwrap();
        assert_eq!(views[0], view("proc/meminfo"), "{c}: {sidecar}");
        assert_eq!(views[7], view("sys/devices/system/cpu/online"), "{c}");
        assert!(views.iter().all(|v| v.is_string()), "{c}: {views:?}");
    }
    assert_eq!(sidecar["annotations"]["vproc.io/injected"], "volumes");
    assert_eq!(
        sidecar["annotations"]["kubectl.kubernetes.io/default-container"],
        "api"
    );
    assert!(by_pod(&out, "web.yaml")["views"]["nginx"][0] == view("proc/meminfo"));
    // A pod's own /proc/meminfo stays; the other views are added.
    let partial = by_pod(&out, "partial.yaml");
    assert_eq!(partial["views"]["app"][0], "/var/lib/lxcfs/proc/meminfo");
    assert_eq!(partial["views"]["app"][1], view("proc/cpuinfo"));
    // Opted out: untouched.
    let optout = by_pod(&out, "optout.yaml");
    assert_eq!(optout["patched"], false);
    assert_eq!(optout["hostpath"], serde_json::json!([]));
    // A pod that asks for the annotation gets no hostPath (Pod Security "baseline" admits
    // it): the OCI hook binds the views.
    let baseline = by_pod(&out, "baseline.yaml");
    assert_eq!(baseline["hostpath"], serde_json::json!([]));
    assert_eq!(baseline["annotations"]["io.vproc.enable"], "true");
    assert_eq!(baseline["annotations"]["vproc.io/injected"], "annotation");

    // A webhook configured for annotations (?mode=annotation): no pod gets a hostPath.
    let out = run(&format!("https://127.0.0.1:{port}/mutate?mode=annotation"));
    for r in &out {
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
        let own = if r["pod"] == "partial.yaml" {
            serde_json::json!(["/var/lib/lxcfs/proc/meminfo"])
        } else {
            serde_json::json!([])
        };
        assert_eq!(r["hostpath"], own, "{r}");
        if r["pod"] != "optout.yaml" {
            assert_eq!(r["annotations"]["io.vproc.enable"], "true", "{r}");
        }
    }
}
