//! What an operator sees of a running daemon: `vproc status` (table and JSON) over the control
//! socket, and the Prometheus metrics over TCP, parsed by the official Python client's parser;
//! both follow the daemon through an upgrade and a worker crash.

mod common;

use common::{run_in, wait_for, Daemon, TestCgroup};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::Command;

fn vproc(args: &[&str]) -> String {
    let o = Command::new(common::vproc_bin())
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "vproc {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn status(mnt: &str) -> Value {
    serde_json::from_str(&vproc(&["status", mnt, "--json"])).unwrap()
}

/// `GET path` over TCP; the whole answer.
fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The samples of a Prometheus text page, as the official client's parser reads them:
/// `name{label=value,...} value` per line, labels sorted.
fn parse_metrics(text: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sample(samples: &[String], key: &str) -> f64 {
    let line = samples
        .iter()
        .find(|l| l.starts_with(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no sample {key} in {samples:#?}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn have_parser() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn status_and_metrics_show_the_containers_served_through_upgrade_and_crash() {
    require_real_cgroups!();
    require!(
        have_parser(),
        "the Prometheus parser is missing (python3 -m pip install prometheus-client)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start(&["--metrics-addr", &addr]);
    let mnt = d.mnt.display().to_string();
    let cg = TestCgroup::new("status").with_standard_limits();
    let name = cg
        .dir("memory")
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    run_in(
        &cg,
        &format!("cat {mnt}/proc/meminfo {mnt}/proc/uptime > /dev/null"),
    );

    let s = status(&mnt);
    assert_eq!(s["daemon"]["generation"], 1);
    assert_eq!(s["daemon"]["supervisor_pid"], d.pid());
    let ours = |s: &Value| -> Value {
        s["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cgroup"].as_str().is_some_and(|p| p.ends_with(&name)))
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not listed: {s:#}"))
    };
    let c = ours(&s);
    assert_eq!(c["memory_limit_bytes"], 268435456u64);
    assert_eq!(c["cpu_limit"], 0.5);
    assert_eq!(c["cpuset_cpus"], 1);
    assert!(c["renders"].as_u64().unwrap() >= 2, "{c:#}");
    let views: Vec<&str> = c["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(views, ["proc/meminfo", "proc/uptime"]);
    let meminfo = s["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["view"] == "proc/meminfo")
        .unwrap()
        .clone();
    assert!(meminfo["reads"].as_u64().unwrap() >= 1);
    assert!(meminfo["renders"].as_u64().unwrap() >= 1);
    // The table an operator reads.
    let table = vproc(&["status", &mnt]);
    let row = table
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("256M") && row.contains("0.50"), "{row}");

    // Metrics over TCP, parsed by Prometheus' own client.
    let page = http_get(&addr, "/metrics");
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let m = parse_metrics(body);
    assert_eq!(sample(&m, "vproc_worker_generation{}"), 1.0);
    assert!(sample(&m, "vproc_reads_total{view=proc/meminfo}") >= 1.0);
    assert!(sample(&m, "vproc_render_duration_seconds_count{view=proc/meminfo}") >= 1.0);
    assert!(sample(&m, "vproc_containers_served{}") >= 1.0);
    assert_eq!(sample(&m, "vproc_worker_restarts_total{reason=crash}"), 0.0);
    // The status names cgroups: TCP does not serve it.
    assert!(http_get(&addr, "/status").starts_with("HTTP/1.0 404"));
    assert!(http_get(&addr, "/healthz").ends_with("ok\n"));
    // Every metric the shipped dashboard and docs/operations.md query exists on the page.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/vproc.json"
    ))
    .unwrap();
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    for text in [&dashboard, &docs] {
        let mut rest = text.as_str();
        let mut seen = 0;
        while let Some(i) = rest.find("vproc_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            seen += 1;
            assert!(
                m.iter().any(|l| l.starts_with(&name)),
                "{name} is queried but not exported"
            );
        }
        assert!(seen >= 8);
    }
    // The same metrics on the socket.
    assert!(
        vproc(&["status", &mnt, "--metrics"]).contains("vproc_reads_total{view=\"proc/meminfo\"}")
    );

    // An upgrade: the new worker answers, and counts it.
    common::upgrade(&d.mnt);
    let s = wait_for("the new worker's status", || {
        let s = status(&mnt);
        (s["daemon"]["generation"] == 2).then_some(s)
    });
    assert_eq!(s["daemon"]["upgrades"], 1);
    let m = wait_for("the new worker's metrics", || {
        let m = parse_metrics(http_get(&addr, "/metrics").split_once("\r\n\r\n")?.1);
        (sample(&m, "vproc_worker_generation{}") == 2.0).then_some(m)
    });
    assert_eq!(
        sample(&m, "vproc_worker_restarts_total{reason=upgrade}"),
        1.0
    );

    // A crash: the replacement answers, and counts it.
    let worker = s["daemon"]["worker_pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let s = wait_for("the replacement's status", || {
        let o = Command::new(common::vproc_bin())
            .args(["status", &mnt, "--json"])
            .output()
            .ok()?;
        let s: Value = serde_json::from_slice(&o.stdout).ok()?;
        (s["daemon"]["generation"] == 3).then_some(s)
    });
    assert_eq!(s["daemon"]["crashes"], 1);
    assert_eq!(s["daemon"]["upgrades"], 1);
    // The new worker has seen no reads yet; a reader shows up again.
    run_in(&cg, &format!("cat {mnt}/proc/meminfo > /dev/null"));
    assert_eq!(ours(&status(&mnt))["memory_limit_bytes"], 268435456u64);
}

#[test]
fn status_without_a_daemon_says_so() {
    let o = Command::new(common::vproc_bin())
        .args(["status", "/tmp/vproc-test-nothing-here"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no vproc serve answers"), "{err}");
}
