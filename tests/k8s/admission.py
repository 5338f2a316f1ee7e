"""Sends each pod spec to a running `vproc webhook` as the API server would (an
AdmissionReview for CREATE, over TLS), applies the JSON patch it answers with (the jsonpatch
library, RFC 6902), and checks the patched pod against the official Python client's models
(validate.py's checks). Prints one JSON line per pod:

  {"pod": FILE, "allowed": bool, "patched": bool, "errors": [...], "mode": ..., "views": {...},
   "hostpath": [...], "annotations": {...}}

    python3 tests/k8s/admission.py URL CA_FILE POD.yaml...
"""
import base64
import json
import os
import ssl
import sys
import urllib.request
import uuid

import jsonpatch
import yaml
from kubernetes import client

sys.path.insert(0, os.path.dirname(__file__))
import validate  # noqa: E402

VIEWS = ["/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime", "/proc/loadavg",
         "/proc/swaps", "/proc/diskstats", "/sys/devices/system/cpu/online"]


def review(pod):
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"].get("namespace", "default"),
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "dryRun": False,
        },
    }


def main(url, ca, paths):
    ctx = ssl.create_default_context(cafile=ca)
    for path in paths:
        with open(path) as f:
            pod = yaml.safe_load(f)
        req = review(pod)
        http = urllib.request.Request(url, data=json.dumps(req).encode(),
                                      headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(http, context=ctx, timeout=10) as r:
            out = json.load(r)
        errors = []
        resp = out.get("response", {})
        if out.get("kind") != "AdmissionReview" or out.get("apiVersion") != "admission.k8s.io/v1":
            errors.append("not an admission.k8s.io/v1 AdmissionReview")
        if resp.get("uid") != req["request"]["uid"]:
            errors.append("the response's uid is not the request's")
        patched = pod
        if "patch" in resp:
            if resp.get("patchType") != "JSONPatch":
                errors.append("patchType must be JSONPatch")
            ops = json.loads(base64.b64decode(resp["patch"]))
            patched = jsonpatch.apply_patch(pod, ops)
        validate.check(patched, "V1Pod", path, errors)
        try:
            client.ApiClient()._ApiClient__deserialize(patched, "V1Pod")
        except (ValueError, TypeError) as e:
            errors.append(str(e))
        vols = {v["name"]: v for v in patched["spec"].get("volumes", [])}
        views = {}
        for c in patched["spec"].get("initContainers", []) + patched["spec"]["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            views[c["name"]] = [vols.get(mounts[v], {}).get("hostPath", {}).get("path") if v in mounts else None
                                for v in VIEWS]
            names = [m["mountPath"] for m in c.get("volumeMounts", [])]
            if len(names) != len(set(names)):
                errors.append(f"{c['name']}: a mountPath twice")
        names = [v["name"] for v in patched["spec"].get("volumes", [])]
        if len(names) != len(set(names)):
            errors.append("a volume name twice")
        print(json.dumps({
            "pod": os.path.basename(path),
            "allowed": resp.get("allowed"),
            "patched": "patch" in resp,
            "errors": errors,
            "views": views,
            "hostpath": sorted(v["hostPath"]["path"] for v in patched["spec"].get("volumes", []) if "hostPath" in v),
            "annotations": patched["metadata"].get("annotations", {}),
        }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
