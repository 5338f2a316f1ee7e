"""Validates Kubernetes manifests against the official Python client's models: every key must
be a field of the model at that place, every value of the field's type, and required fields
present (the models refuse to build without them). Then checks what vproc's DaemonSet must set.

    python3 tests/k8s/validate.py --version=0.1.0 deploy/kubernetes/*.yaml
"""
import re
import sys

import yaml
from kubernetes import client

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object, "Any": object,
              "bytes": str, "bytearray": str}


def model_for(doc):
    group_version = doc["apiVersion"].split("/")[-1]
    name = "V1" + doc["kind"] if group_version == "v1" else group_version.capitalize() + doc["kind"]
    return getattr(client, name)


def check(value, type_name, path, errors):
    if type_name in PRIMITIVES:
        if not isinstance(value, PRIMITIVES[type_name]) or (type_name == "int" and isinstance(value, bool)):
            errors.append(f"{path}: expected {type_name}, got {value!r}")
        return
    m = re.fullmatch(r"[lL]ist\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\((\w+), (.+)\)|Dict\[(\w+), (.+)\]", type_name)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        for k, v in value.items():
            check(v, m.group(2) or m.group(4), f"{path}.{k}", errors)
        return
    cls = getattr(client, type_name)
    if not isinstance(value, dict):
        errors.append(f"{path}: expected a {type_name} object")
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for key, v in value.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: not a field of {type_name}")
            continue
        check(v, cls.openapi_types[by_json[key]], f"{path}.{key}", errors)


def guaranteed(c):
    r = c.get("resources", {})
    req, lim = r.get("requests", {}), r.get("limits", {})
    return req.get("cpu") and req.get("memory") and req == lim


def daemonset_requirements(doc, errors, version):
    spec = doc["spec"]["template"]["spec"]
    need = lambda ok, what: ok or errors.append(f"DaemonSet: {what}")
    need(spec.get("hostPID") is True, "hostPID must be true")
    need(spec.get("priorityClassName") == "system-node-critical", "priorityClassName system-node-critical")
    need(spec.get("nodeSelector", {}).get("kubernetes.io/os") == "linux", "nodeSelector kubernetes.io/os: linux")
    update = doc["spec"].get("updateStrategy", {})
    rolling = update.get("rollingUpdate", {})
    need(update.get("type") == "RollingUpdate" and rolling.get("maxSurge") == 1 and rolling.get("maxUnavailable") == 0,
         "a rolling update that starts the new pod before the old one stops (maxSurge 1, maxUnavailable 0)")
    c = spec["containers"][0]
    args = c.get("args", [])
    need("--take-over" in args, "the new pod takes the connections over (--take-over)")
    need("--repair-containers" in args, "containers left with dead views are repaired (--repair-containers)")
    need(c.get("securityContext", {}).get("privileged") is True, "the container must be privileged")
    every = spec["containers"] + spec.get("initContainers", [])
    for x in every:
        need(guaranteed(x), f"{x['name']}: requests equal to limits (Guaranteed QoS)")
        need(x["image"].endswith(":" + version), f"{x['name']}: the image pinned to {version}, not {x['image']}")
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    views = [m for m in mounts.values() if m["mountPath"] == "/var/lib/vproc"]
    need(views and views[0].get("mountPropagation") == "Bidirectional", "/var/lib/vproc mounted Bidirectional")
    need(views and vols[views[0]["name"]]["hostPath"]["path"] == "/var/lib/vproc", "/var/lib/vproc is the host's")
    cg = [m for m in mounts.values() if m["mountPath"] == "/sys/fs/cgroup"]
    need(cg and vols[cg[0]["name"]]["hostPath"]["path"] == "/sys/fs/cgroup", "the host cgroup tree is mounted")
    run = [m for m in mounts.values() if m["mountPath"] == "/run/vproc"]
    need(run and vols[run[0]["name"]]["hostPath"]["path"] == "/run/vproc", "/run/vproc is the host's (take-over, state)")
    ready = c.get("readinessProbe", {}).get("httpGet", {})
    need(ready.get("path") == "/healthz", "ready when this pod's own worker serves (/healthz)")
    need(c.get("livenessProbe"), "a liveness probe")
    init = spec.get("initContainers", [])
    cmd = " ".join(" ".join(i.get("command", [])) for i in init)
    need("install.sh" in cmd and "--destdir /host" in cmd, "an init step that installs the hook's host pieces")
    init_mounts = {m["mountPath"] for i in init for m in i.get("volumeMounts", [])}
    need({"/host/usr/local/bin", "/host/usr/share/containers/oci/hooks.d"} <= init_mounts,
         "the installer writes /usr/local/bin and the hooks.d directory of the host")


def webhook_requirements(doc, errors):
    need = lambda ok, what: ok or errors.append(f"MutatingWebhookConfiguration: {what}")
    hooks = doc.get("webhooks", [])
    need(hooks, "webhooks")
    for h in hooks:
        name = h.get("name", "?")
        need(h.get("failurePolicy") == "Ignore", f"{name}: failurePolicy Ignore (pods start without views, never fail)")
        need(h.get("sideEffects") == "None", f"{name}: sideEffects None")
        need(h.get("admissionReviewVersions") == ["v1"], f"{name}: admissionReviewVersions [v1]")
        need(h.get("timeoutSeconds", 10) <= 5, f"{name}: a short timeout")
        rules = h.get("rules", [])
        need(all(r.get("resources") == ["pods"] and r.get("operations") == ["CREATE"] for r in rules),
             f"{name}: pods on CREATE only")
        need(h.get("namespaceSelector") or h.get("objectSelector"), f"{name}: opt-in by selector")
        svc = h.get("clientConfig", {}).get("service", {})
        need(svc.get("path", "").startswith("/mutate"), f"{name}: the /mutate path")


def main(args):
    version = None
    if args and args[0].startswith("--version="):
        version = args[0].split("=", 1)[1]
        args = args[1:]
    paths = args
    errors = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                cls = model_for(doc)
                check(doc, cls.__name__, f"{path}:{doc['kind']}", errors)
                try:
                    client.ApiClient()._ApiClient__deserialize(doc, cls.__name__)
                except (ValueError, TypeError) as e:
                    errors.append(f"{path}: {e}")
                if doc["kind"] == "DaemonSet":
                    daemonset_requirements(doc, errors, version or "?")
                if doc["kind"] == "MutatingWebhookConfiguration":
                    webhook_requirements(doc, errors)
    for e in errors:
        print(e)
    print(f"{len(paths)} file(s), {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
