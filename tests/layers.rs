//! The module layering of docs/architecture.md, checked: each module of `src/` may name only the
//! modules below it (`crate::<module>`), so data flows one way, and the views stay pure.

use std::path::Path;

/// Each module and the modules it may use. The graph is the one drawn in docs/architecture.md.
const ALLOWED: &[(&str, &[&str])] = &[
    ("kernel", &[]),
    ("cgroup", &["kernel"]),
    ("host", &["kernel"]),
    ("views", &["kernel", "cgroup", "host"]),
    ("compose", &["kernel", "cgroup", "host", "views"]),
    ("fs", &["kernel", "cgroup", "compose", "views"]),
    ("runtime", &["kernel", "cgroup"]),
    ("sysinfo", &["kernel", "cgroup", "compose"]),
    ("webhook", &[]),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::X` modules a file names (outside comments).
fn used_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for m in used_modules(&text) {
                if m != *module && !allowed.contains(&m.as_str()) {
                    bad.push(format!("{}: uses crate::{m}", f.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn views_stay_pure() {
    // No I/O, no clock, no threads in the renderers: they take bytes and snapshots only.
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/views"),
        &mut files,
    );
    let forbidden = [
        "std::fs",
        "std::io::Read",
        "File::",
        "Instant::now",
        "SystemTime",
        "clock_gettime",
        "std::thread",
        "std::process",
        "std::net",
    ];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for word in forbidden {
            assert!(
                !text.contains(word),
                "{} uses {word}: views must stay pure",
                f.display()
            );
        }
    }
}

#[test]
fn the_view_list_is_one_list() {
    // The mount helper (a separate crate, below vproc) keeps the paths it binds; they are the
    // views' paths, in the same order.
    let views: Vec<&str> = vproc::views::ViewId::ALL.iter().map(|v| v.path()).collect();
    let files: Vec<&str> = vproc_mount::VIEWS
        .iter()
        .copied()
        .filter(|r| !vproc_mount::is_dir_view(r))
        .collect();
    assert_eq!(views, files);
    // The one directory it binds is the tree's CPU directory, from the per-reader tree.
    let cpu = vproc::fs::tree::DIRS[vproc::fs::tree::CPU_DIR].1;
    assert_eq!(vproc_mount::VIEWS[0], cpu);
    assert_eq!(
        vproc_mount::CPU_DIR_SOURCE,
        format!("{}/{cpu}", vproc::fs::tree::READER_NAME)
    );
}
