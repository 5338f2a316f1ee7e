//! The `vproc-mount` binary's own behaviour without a daemon: printed configs and the refusal of
//! missing or dead sources. (With a daemon and containers it is tested in vproc's tests/run.rs,
//! which also relies on this file making cargo build the binary.)

use std::process::Command;

fn helper(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vproc-mount"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn prints_every_format() {
    for (format, needle) in [
        ("docker", "-v /var/lib/vproc/proc/meminfo:/proc/meminfo:ro"),
        (
            "podman",
            "-v /var/lib/vproc/sys/devices/system/cpu/online:/sys/devices/system/cpu/online:ro",
        ),
        ("oci", "\"destination\": \"/proc/stat\""),
        ("kubernetes", "mountPath: /proc/uptime"),
    ] {
        let o = helper(&["print", "--format", format]);
        assert!(o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(needle),
            "{format}"
        );
    }
    let o = helper(&["print", "--format", "docker", "--source", "/srv/views"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("-v /srv/views/proc/meminfo:/proc/meminfo:ro")
    );
}

#[test]
fn refuses_a_missing_source_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("nothing-here");
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("proc/meminfo"), "").unwrap();
    let o = helper(&[
        "rootfs",
        root.to_str().unwrap(),
        "--source",
        src.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    assert!(!src.exists(), "a source must never be created");
    assert_eq!(std::fs::read_dir(root.join("proc")).unwrap().count(), 1);
}
