"""Validates Kubernetes manifests against the official Python client's models: every key must
be a field of the model at that place, every value of the field's type, and required fields
present (the models refuse to build without them). Then checks what vproc's DaemonSet must set.

    python3 tests/k8s/validate.py deploy/kubernetes/*.yaml
"""
import re
import sys

import yaml
from kubernetes import client

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object, "Any": object}


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


def daemonset_requirements(doc, errors):
    spec = doc["spec"]["template"]["spec"]
    need = lambda ok, what: ok or errors.append(f"DaemonSet: {what}")
    need(spec.get("hostPID") is True, "hostPID must be true")
    need(spec.get("priorityClassName") == "system-node-critical", "priorityClassName system-node-critical")
    c = spec["containers"][0]
    need(c.get("securityContext", {}).get("privileged") is True, "the container must be privileged")
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    views = [m for m in mounts.values() if m["mountPath"] == "/var/lib/vproc"]
    need(views and views[0].get("mountPropagation") == "Bidirectional", "/var/lib/vproc mounted Bidirectional")
    need(views and vols[views[0]["name"]]["hostPath"]["path"] == "/var/lib/vproc", "/var/lib/vproc is the host's")
    cg = [m for m in mounts.values() if m["mountPath"] == "/sys/fs/cgroup"]
    need(cg and vols[cg[0]["name"]]["hostPath"]["path"] == "/sys/fs/cgroup", "the host cgroup tree is mounted")
    probe = " ".join(c.get("readinessProbe", {}).get("exec", {}).get("command", []))
    need("/var/lib/vproc/" in probe, "a readiness probe that reads a view")
    need(c.get("resources", {}).get("requests"), "resource requests")
    init = " ".join(" ".join(i.get("command", [])) for i in spec.get("initContainers", []))
    need("umount" in init and "stat -f" in init, "an init step that clears a dead mount (and only that)")


def main(paths):
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
                    daemonset_requirements(doc, errors)
    for e in errors:
        print(e)
    print(f"{len(paths)} file(s), {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
