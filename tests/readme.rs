//! The commands README.md gives a new user: `cargo build --release` builds both binaries, and
//! the test command is the one CI runs.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn cargo_build_builds_both_binaries() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = meta["workspace_default_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|id| {
            meta["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| &p["id"] == id)
                .and_then(|p| p["name"].as_str())
                .map(str::to_owned)
        })
        .collect();
    assert!(
        names.iter().any(|n| n == "vproc") && names.iter().any(|n| n == "vproc-mount"),
        "default members: {names:?}"
    );
}

/// The fenced command lines of the README's "Build and test" section.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = text
        .split("## Build and test")
        .nth(1)
        .expect("README has a Build and test section");
    let block = section
        .split("```sh")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn ci_runs_the_readme_test_command() {
    let cmds = readme_commands();
    assert_eq!(cmds[0], "cargo build --release");
    let test = cmds
        .iter()
        .find(|c| c.starts_with("cargo test"))
        .expect("README gives a test command");
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains(test.as_str())),
        ".ci/run does not run `{test}`"
    );
}

/// A CI step that pipes its output into `tee` fails when its command fails: `bash -c` does not
/// inherit the script's `pipefail`, so each such step sets it itself (without it, a failed lane
/// once ended in a green CI).
#[test]
fn ci_steps_keep_their_commands_status() {
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let piped: Vec<&str> = ci
        .lines()
        .filter(|l| l.trim_start().starts_with("step ") && l.contains("| tee"))
        .collect();
    assert!(!piped.is_empty());
    for line in piped {
        assert!(line.contains("bash -o pipefail -c"), "{line}");
    }
    // The shape the steps use does carry the failure.
    let status = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", "false 2>&1 | tee /dev/null"])
        .status()
        .unwrap();
    assert!(!status.success());
}
