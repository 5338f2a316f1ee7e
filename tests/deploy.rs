//! The shipped deployment files: Kubernetes manifests checked against the Kubernetes object
//! schema (the official Python client's models, tests/k8s/validate.py), the systemd unit with
//! `systemd-analyze verify`, and the OCI hooks.d files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a tool this test needs is missing; in CI (`CI` set) that is a failure.
fn missing(what: &str, ok: bool) -> bool {
    if ok {
        return false;
    }
    assert!(
        std::env::var_os("VPROC_REQUIRE_REAL").is_none_or(|v| v == "0"),
        "VPROC_REQUIRE_REAL is set: CI must install {what}"
    );
    eprintln!("skipped: {what} is not installed");
    true
}

fn python_has_kubernetes() -> bool {
    Command::new("python3")
        .args(["-c", "import kubernetes, yaml"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn kubernetes_manifests_match_the_schema() {
    if missing(
        "the Python kubernetes client (pip install kubernetes)",
        python_has_kubernetes(),
    ) {
        return;
    }
    let files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(files.len() >= 3);
    let version = format!("--version={}", env!("CARGO_PKG_VERSION"));
    let out = Command::new("python3")
        .arg(root().join("tests/k8s/validate.py"))
        .arg(&version)
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(", 0 error(s)"), "{text}");
    // The validator does reject what the schema forbids.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let ds = std::fs::read_to_string(root().join("deploy/kubernetes/daemonset.yaml")).unwrap();
    std::fs::write(
        &bad,
        ds.replace("hostPID: true", "hostPID: true\n      hostPIDs: true")
            .replace("mountPropagation: Bidirectional", "mountPropagation: 7")
            .replace(
                "limits: {cpu: 500m, memory: 128Mi}",
                "limits: {memory: 256Mi}",
            )
            .replace("vproc:0.1.0", "vproc:latest")
            .replace("maxUnavailable: 0", "maxUnavailable: 1"),
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(root().join("tests/k8s/validate.py"))
        .arg(&version)
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("hostPIDs: not a field of V1PodSpec"),
        "{text}"
    );
    assert!(text.contains("mountPropagation: expected str"), "{text}");
    for what in [
        "vproc: requests equal to limits (Guaranteed QoS)",
        "the image pinned to",
        "maxUnavailable 0",
    ] {
        assert!(text.contains(what), "{what}: {text}");
    }
}

#[test]
fn pod_volumes_are_what_the_helper_prints() {
    let printed =
        Command::new(Path::new(env!("CARGO_BIN_EXE_vproc")).with_file_name("vproc-mount"))
            .args(["print", "--format", "kubernetes"])
            .output()
            .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    let pod = std::fs::read_to_string(root().join("deploy/kubernetes/pod-volumes.yaml")).unwrap();
    for line in printed
        .lines()
        .filter(|l| l.contains("path:") || l.contains("mountPath:"))
    {
        let value = line.split(": ").nth(1).unwrap();
        assert!(pod.contains(value), "pod-volumes.yaml lacks {value}");
    }
}

/// `deploy/install.sh` into a staging root, as an operator (or a package) would: the binaries,
/// the unit, the hooks.d file and the page the unit's Documentation= names all land, with
/// their paths following --prefix, and the installed unit passes `systemd-analyze verify`.
#[test]
fn install_script_puts_a_unit_that_verifies() {
    let have = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(version) = have else {
        missing("systemd-analyze (apt-get install systemd)", false);
        return;
    };
    let version: u32 = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let dest = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_vproc")).parent().unwrap();
    let out = Command::new(root().join("deploy/install.sh"))
        .args(["--prefix", "/opt/vproc", "--destdir"])
        .arg(dest.path())
        .arg("--bin-dir")
        .arg(bin_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dest.path();
    for f in [
        "opt/vproc/bin/vproc",
        "opt/vproc/bin/vproc-mount",
        "etc/systemd/system/vproc.service",
        "usr/share/containers/oci/hooks.d/vproc.json",
    ] {
        assert!(d.join(f).is_file(), "{f} was not installed");
    }
    let unit = std::fs::read_to_string(d.join("etc/systemd/system/vproc.service")).unwrap();
    let hook =
        std::fs::read_to_string(d.join("usr/share/containers/oci/hooks.d/vproc.json")).unwrap();
    assert!(hook.contains("\"/opt/vproc/bin/vproc-mount\""), "{hook}");
    for key in [
        "Type=notify",
        "ExecStart=/opt/vproc/bin/vproc serve /var/lib/vproc",
        "ExecStartPost=-/opt/vproc/bin/vproc-mount remount --all --source /var/lib/vproc",
        "ExecReload=/opt/vproc/bin/vproc upgrade /var/lib/vproc",
        "FileDescriptorStoreMax=64",
        "FileDescriptorStorePreserve=restart",
        "OOMScoreAdjust=-1000",
        "Before=docker.service",
    ] {
        assert!(unit.contains(key), "the unit must set {key}");
    }
    // Nothing runs after a stop: a command that looked at the mount (statfs) would wait inside
    // FUSE while systemd holds the connection (once 10 s per restart).
    assert!(!unit.contains("ExecStopPost"), "{unit}");
    let sysinfo = std::fs::read_to_string(d.join("etc/systemd/system/vproc-sysinfo.service"))
        .expect("vproc-sysinfo.service was not installed");
    for key in [
        "Type=notify",
        "ExecStart=/opt/vproc/bin/vproc sysinfo-agent --socket /run/vproc/sysinfo.sock",
        "FileDescriptorStorePreserve=restart",
        "Restart=always",
    ] {
        assert!(sysinfo.contains(key), "the sysinfo unit must set {key}");
    }
    for (name, text) in [
        ("vproc.service", &unit),
        ("vproc-sysinfo.service", &sysinfo),
    ] {
        verify_staged(d, name, text, version);
    }
}

/// The unit's Documentation= page is installed, and `systemd-analyze verify` finds nothing
/// wrong with the unit, its commands at their staged paths.
fn verify_staged(d: &Path, name: &str, unit: &str, version: u32) {
    let doc = unit
        .lines()
        .find_map(|l| l.strip_prefix("Documentation=file://"))
        .unwrap();
    assert!(
        d.join(doc.trim_start_matches('/')).is_file(),
        "{doc} is not installed"
    );
    let staged = unit.replace(
        "/opt/vproc/bin/",
        &format!("{}/opt/vproc/bin/", d.display()),
    );
    let path = d.join(name);
    std::fs::write(&path, staged).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let msgs =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    // Units named in Before= need not exist on this machine; systemd before 254 does not know
    // FileDescriptorStorePreserve= (and ignores it: the store then survives automatic
    // restarts only, see docs/operations.md).
    let real: Vec<&str> = msgs
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("not found"))
        .filter(|l| !(version < 254 && l.contains("Unknown key 'FileDescriptorStorePreserve'")))
        .collect();
    assert!(out.status.success() && real.is_empty(), "{name}: {msgs}");
}

#[test]
fn oci_hooks_d_files_follow_schema_1_0_0() {
    for (file, when) in [
        ("vproc.json", "annotations"),
        ("vproc-always.json", "always"),
    ] {
        let text = std::fs::read(root().join("deploy/oci-hooks.d").join(file)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["version"], "1.0.0", "{file}");
        assert_eq!(
            v["stages"],
            serde_json::json!(["createContainer"]),
            "{file}"
        );
        assert!(
            v["hook"]["path"]
                .as_str()
                .unwrap()
                .ends_with("/vproc-mount"),
            "{file}"
        );
        assert_eq!(v["hook"]["args"][1], "oci-hook", "{file}");
        assert!(v["when"].get(when).is_some(), "{file}");
    }
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("deploy/oci-hooks.d/vproc.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["when"]["annotations"]["^io\\.vproc\\.enable$"], "^true$");
}
