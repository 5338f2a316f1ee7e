//! What the mutating admission webhook (`vproc webhook`) does to a pod, as a pure function of
//! the AdmissionReview it is sent: add the views, either as `hostPath` volumes mounted into
//! every container (works with any runtime; the Pod Security "baseline" profile forbids
//! `hostPath`), or as the `io.vproc.enable: "true"` annotation that the OCI hook acts on (CRI-O,
//! or containerd with NRI's hook injector; admissible under every Pod Security profile).
//!
//! Pods opt out with the label or annotation `vproc.io/inject: "false"`, and pick the way with
//! the annotation `vproc.io/mode: volumes|annotation`; which pods are sent at all is the
//! webhook configuration's selector (deploy/kubernetes/webhook.yaml). What is already there is
//! kept: a volume of the same name, a container that mounts something at a view's path.

use crate::views::{engine_bindable, is_dir_view, source_rel};
use serde_json::{json, Map, Value};
use std::path::Path;

/// How the views get into a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `hostPath` volumes and mounts.
    Volumes,
    /// The annotation the OCI hook acts on.
    Annotation,
}

impl Mode {
    /// `volumes` or `annotation`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "volumes" => Some(Mode::Volumes),
            "annotation" => Some(Mode::Annotation),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Volumes => "volumes",
            Mode::Annotation => "annotation",
        }
    }
}

/// The label or annotation a pod opts out with (`"false"`).
pub const INJECT_KEY: &str = "vproc.io/inject";
/// The annotation a pod picks its mode with.
pub const MODE_KEY: &str = "vproc.io/mode";
/// The annotation the webhook leaves on a pod it changed (its value: the mode).
pub const INJECTED_KEY: &str = "vproc.io/injected";
/// The annotation the OCI hook acts on (deploy/oci-hooks.d/vproc.json).
pub const HOOK_KEY: &str = "io.vproc.enable";

/// `proc/meminfo` -> `vproc-proc-meminfo` (a valid DNS label).
pub fn volume_name(rel: &str) -> String {
    format!("vproc-{}", rel.replace('/', "-"))
}

/// A JSON pointer token (`/` and `~` escaped).
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The JSON patch that brings the views into `pod`, and the mode used (`None`: nothing to
/// do, with why).
pub fn patch_pod(
    pod: &Value,
    source: &Path,
    default: Mode,
) -> Result<(Vec<Value>, Mode), &'static str> {
    let meta = pod.get("metadata").cloned().unwrap_or(Value::Null);
    let opted_out = [
        str_at(&meta, &["labels", INJECT_KEY]),
        str_at(&meta, &["annotations", INJECT_KEY]),
    ]
    .contains(&Some("false"));
    if opted_out {
        return Err("opted out");
    }
    let mode = match str_at(&meta, &["annotations", MODE_KEY]) {
        Some(m) => Mode::parse(m).ok_or("unknown vproc.io/mode")?,
        None => default,
    };
    let mut ops = Vec::new();
    match mode {
        Mode::Annotation => {
            if str_at(&meta, &["annotations", HOOK_KEY]) == Some("true") {
                return Err("already annotated");
            }
            annotate(&meta, &mut ops, HOOK_KEY, "true");
        }
        Mode::Volumes => {
            let spec = pod.get("spec").ok_or("no spec")?;
            let have: Vec<&str> = spec
                .get("volumes")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(|v| v.get("name")?.as_str()).collect())
                .unwrap_or_default();
            let volumes: Vec<Value> = engine_bindable()
                .filter(|rel| !have.contains(&volume_name(rel).as_str()))
                .map(|rel| {
                    json!({
                        "name": volume_name(rel),
                        // type File: the kubelet refuses to start the pod when a view is
                        // missing, rather than creating a directory at the source.
                        "hostPath": {
                            "path": source.join(source_rel(rel)).display().to_string(),
                            "type": if is_dir_view(rel) { "Directory" } else { "File" },
                        },
                    })
                })
                .collect();
            append(&mut ops, "/spec/volumes", spec.get("volumes"), volumes);
            for kind in ["initContainers", "containers"] {
                let Some(list) = spec.get(kind).and_then(Value::as_array) else {
                    continue;
                };
                for (i, c) in list.iter().enumerate() {
                    let taken: Vec<&str> = c
                        .get("volumeMounts")
                        .and_then(Value::as_array)
                        .map(|m| {
                            m.iter()
                                .filter_map(|m| m.get("mountPath")?.as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    let mounts: Vec<Value> = engine_bindable()
                        .filter(|rel| !taken.contains(&format!("/{rel}").as_str()))
                        .map(|rel| {
                            json!({"name": volume_name(rel), "mountPath": format!("/{rel}"), "readOnly": true})
                        })
                        .collect();
                    append(
                        &mut ops,
                        &format!("/spec/{kind}/{i}/volumeMounts"),
                        c.get("volumeMounts"),
                        mounts,
                    );
                }
            }
            if ops.is_empty() {
                return Err("already has the views");
            }
        }
    }
    let meta_after = if mode == Mode::Annotation {
        // The annotations map exists once the first op ran.
        json!({"annotations": {}})
    } else {
        meta
    };
    annotate(&meta_after, &mut ops, INJECTED_KEY, mode.name());
    Ok((ops, mode))
}

/// Ops adding `items` to the array at `path` (creating it when `existing` is absent).
fn append(ops: &mut Vec<Value>, path: &str, existing: Option<&Value>, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if existing.is_some_and(Value::is_array) {
        for v in items {
            ops.push(json!({"op": "add", "path": format!("{path}/-"), "value": v}));
        }
    } else {
        ops.push(json!({"op": "add", "path": path, "value": items}));
    }
}

/// An op setting annotation `key` (creating the map when `meta` has none).
fn annotate(meta: &Value, ops: &mut Vec<Value>, key: &str, value: &str) {
    if meta.get("annotations").is_some_and(Value::is_object) {
        ops.push(json!({
            "op": "add",
            "path": format!("/metadata/annotations/{}", token(key)),
            "value": value,
        }));
    } else {
        let mut m = Map::new();
        m.insert(key.to_owned(), Value::String(value.to_owned()));
        ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": m}));
    }
}

/// The AdmissionReview answering `review` (an `admission.k8s.io/v1` AdmissionReview with a
/// request): always allowed (the views are an addition, never a reason to refuse a pod),
/// with the patch when there is one. `Err` when it is not a review at all.
pub fn answer(review: &Value, source: &Path, default: Mode) -> Result<Value, &'static str> {
    let req = review.get("request").ok_or("no request")?;
    let uid = req.get("uid").and_then(Value::as_str).ok_or("no uid")?;
    let mut response = json!({"uid": uid, "allowed": true});
    let is_pod_create = str_at(req, &["kind", "kind"]) == Some("Pod")
        && req.get("operation").and_then(Value::as_str) == Some("CREATE");
    if let Some(pod) = req.get("object").filter(|_| is_pod_create) {
        if let Ok((ops, _)) = patch_pod(pod, source, default) {
            let patch = serde_json::to_vec(&ops).map_err(|_| "unencodable patch")?;
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(base64(&patch));
        }
    }
    Ok(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
}

/// Standard base64 with padding (what `patch` must be); a few lines, not a dependency.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    fn pod(v: Value) -> Value {
        v
    }

    #[test]
    fn volumes_for_every_container_and_what_is_there_is_kept() {
        let p = pod(json!({
            "metadata": {"name": "a", "annotations": {"x": "y"}},
            "spec": {
                "volumes": [{"name": "vproc-proc-meminfo", "emptyDir": {}}],
                "initContainers": [{"name": "i", "image": "busybox"}],
                "containers": [
                    {"name": "c", "image": "busybox",
                     "volumeMounts": [{"name": "mine", "mountPath": "/proc/cpuinfo"}]}
                ]
            }
        }));
        let (ops, mode) = patch_pod(&p, Path::new("/var/lib/vproc"), Mode::Volumes).unwrap();
        assert_eq!(mode, Mode::Volumes);
        let paths: Vec<&str> = ops.iter().map(|o| o["path"].as_str().unwrap()).collect();
        // 7 volumes appended (one name was taken), the init container's list created, the
        // container's appended to without /proc/cpuinfo, and the marker annotation.
        assert_eq!(
            paths.iter().filter(|p| **p == "/spec/volumes/-").count(),
            engine_bindable().count() - 1
        );
        assert!(paths.contains(&"/spec/initContainers/0/volumeMounts"));
        assert_eq!(
            paths
                .iter()
                .filter(|p| **p == "/spec/containers/0/volumeMounts/-")
                .count(),
            engine_bindable().count() - 1
        );
        assert_eq!(
            paths.last(),
            Some(&"/metadata/annotations/vproc.io~1injected")
        );
        assert!(!ops
            .iter()
            .any(|o| o["value"]["mountPath"] == "/proc/cpuinfo"));
    }

    #[test]
    fn annotation_mode_opt_out_and_reviews() {
        let p = json!({"metadata": {"annotations": {MODE_KEY: "annotation"}}, "spec": {"containers": []}});
        let (ops, mode) = patch_pod(&p, Path::new("/v"), Mode::Volumes).unwrap();
        assert_eq!(mode, Mode::Annotation);
        assert_eq!(ops[0]["path"], "/metadata/annotations/io.vproc.enable");
        let bare = json!({"metadata": {"name": "b"}, "spec": {"containers": []}});
        let (ops, _) = patch_pod(&bare, Path::new("/v"), Mode::Annotation).unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "add", "path": "/metadata/annotations", "value": {HOOK_KEY: "true"}})
        );
        let out = json!({"metadata": {"labels": {INJECT_KEY: "false"}}, "spec": {}});
        assert_eq!(
            patch_pod(&out, Path::new("/v"), Mode::Volumes),
            Err("opted out")
        );
        // A review of something else is allowed untouched; a non-review is refused.
        let review = json!({"request": {"uid": "u1", "operation": "UPDATE", "kind": {"kind": "Pod"}, "object": bare}});
        let a = answer(&review, Path::new("/v"), Mode::Volumes).unwrap();
        assert_eq!(a["response"], json!({"uid": "u1", "allowed": true}));
        assert!(answer(&json!({}), Path::new("/v"), Mode::Volumes).is_err());
    }
}
