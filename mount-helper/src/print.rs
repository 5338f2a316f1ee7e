//! The lines a user pastes into a runtime config to bind the views: docker/podman `-v` flags,
//! OCI `mounts` JSON, Kubernetes `volumes`/`volumeMounts` YAML. Only the views the engines
//! accept as bind mounts ([`engine_bindable`]).

use crate::kube::volume_name;
use crate::views::{engine_bindable, is_dir_view, source_rel};
use std::fmt::Write;
use std::path::Path;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `docker run` flags.
    Docker,
    /// `podman run` flags.
    Podman,
    /// The `mounts` array of an OCI runtime `config.json`.
    Oci,
    /// A pod spec's `volumes` and a container's `volumeMounts`.
    Kubernetes,
}

/// The text for `format`, with views taken from `source`.
pub fn render(format: Format, source: &Path) -> String {
    let src = |rel: &str| source.join(source_rel(rel)).display().to_string();
    let mut out = String::new();
    match format {
        Format::Docker | Format::Podman => {
            let lines: Vec<String> = engine_bindable()
                .map(|rel| format!("-v {}:/{rel}:ro", src(rel)))
                .collect();
            out.push_str(&lines.join(" \\\n"));
            out.push('\n');
        }
        Format::Oci => {
            out.push_str("\"mounts\": [\n");
            let views: Vec<&str> = engine_bindable().collect();
            for (i, rel) in views.iter().enumerate() {
                let comma = if i + 1 < views.len() { "," } else { "" };
                let _ = writeln!(
                    out,
                    "  {{\"destination\": \"/{rel}\", \"type\": \"bind\", \"source\": \"{}\", \"options\": [\"rbind\", \"ro\"]}}{comma}",
                    src(rel)
                );
            }
            out.push_str("]\n");
            // The piece that answers sysinfo(2), for linux.seccomp (runc and crun; merge it
            // into a profile you have with `vproc-mount seccomp --merge FILE`).
            out.push_str("# linux.seccomp, with `vproc sysinfo-agent` running:\n\"seccomp\": ");
            let fragment = crate::seccomp::merge(None, crate::seccomp::DEFAULT_LISTENER)
                .map(|v| serde_json::to_string(&v).unwrap_or_default())
                .unwrap_or_default();
            out.push_str(&fragment);
            out.push('\n');
        }
        Format::Kubernetes => {
            out.push_str("# pod spec\nvolumes:\n");
            for rel in engine_bindable() {
                let _ = writeln!(
                    out,
                    "  - name: {}\n    hostPath:\n      path: {}\n      type: {}",
                    volume_name(rel),
                    src(rel),
                    if is_dir_view(rel) {
                        "Directory"
                    } else {
                        "File"
                    }
                );
            }
            out.push_str("# each container\nvolumeMounts:\n");
            for rel in engine_bindable() {
                let _ = writeln!(
                    out,
                    "  - name: {}\n    mountPath: /{rel}\n    readOnly: true",
                    volume_name(rel)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let d = render(Format::Docker, Path::new("/var/lib/vproc"));
        // The CPU directory first (the files go on top of three of its entries).
        assert!(d.starts_with("-v /var/lib/vproc/.reader/sys/devices/system/cpu:/sys/devices/system/cpu:ro \\\n-v /var/lib/vproc/proc/meminfo:/proc/meminfo:ro \\\n"), "{d}");
        assert_eq!(d.lines().count(), engine_bindable().count());
        // runc would refuse the container.
        assert!(!d.contains("/proc/vmstat"), "{d}");
        let o = render(Format::Oci, Path::new("/x"));
        assert!(o.contains("{\"destination\": \"/sys/devices/system/cpu/online\", \"type\": \"bind\", \"source\": \"/x/sys/devices/system/cpu/online\", \"options\": [\"rbind\", \"ro\"]},\n"));
        assert!(o.contains("{\"destination\": \"/sys/devices/system/cpu/present\", \"type\": \"bind\", \"source\": \"/x/sys/devices/system/cpu/present\", \"options\": [\"rbind\", \"ro\"]}\n]\n"), "{o}");
        assert!(!o.contains("/proc/vmstat"), "{o}");
        assert!(o.contains("\"seccomp\": {\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/vproc/sysinfo.sock\",\"syscalls\":[{\"action\":\"SCMP_ACT_NOTIFY\",\"names\":[\"sysinfo\"]}]}\n"), "{o}");
        let k = render(Format::Kubernetes, Path::new("/var/lib/vproc"));
        assert!(k.contains("  - name: vproc-sys-devices-system-cpu-online\n    hostPath:\n      path: /var/lib/vproc/sys/devices/system/cpu/online\n      type: File\n"));
        assert!(k.contains("    mountPath: /proc/meminfo\n    readOnly: true\n"));
        assert!(k.contains("  - name: vproc-sys-devices-system-cpu\n    hostPath:\n      path: /var/lib/vproc/.reader/sys/devices/system/cpu\n      type: Directory\n"), "{k}");
    }
}
