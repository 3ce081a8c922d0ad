"""The real kubectl binary against a real ``gitkube up`` (KUBECTL-COMPAT.md P0 and P1)."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import Daemon, Kubectl

pytestmark = pytest.mark.e2e

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: python:3.11
        command: ["python", "-m", "http.server", "8080"]
        ports:
        - containerPort: 8080
        env:
        - {name: MODE, value: prod}
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def get_json(kubectl: Kubectl, *args: str) -> dict:
    return json.loads(kubectl.run("get", *args, "-o", "json").stdout)


def test_version_and_api_resources(kubectl: Kubectl) -> None:
    out = kubectl.run("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert server["major"] == "1" and server["gitVersion"].startswith("v1.32.0-gitkube")
    res = kubectl.run("api-resources").stdout
    for needle in ("deployments", "deploy", "apps/v1", "horizontalpodautoscalers", "validatingadmissionpolicies",
                   "leases", "cronjobs"):
        assert needle in res, needle


def test_create_get_variants(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT).stdout
    assert "deployment.apps/web created" in out
    kubectl.run("-n", namespace, "create", "-f", "-", input=SERVICE)
    table = kubectl.run("-n", namespace, "get", "deploy").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[0] == "web"
    wide = kubectl.run("-n", namespace, "get", "deploy", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    svc = kubectl.run("-n", namespace, "get", "svc", "web").stdout.splitlines()
    assert svc[0].split()[:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    assert svc[1].split()[1] == "ClusterIP" and svc[1].split()[2].startswith("127.96.")
    obj = get_json(kubectl, "-n", namespace, "deploy", "web")
    # Kubernetes defaults, applied by the server
    assert obj["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert obj["spec"]["revisionHistoryLimit"] == 10 and obj["spec"]["progressDeadlineSeconds"] == 600
    assert obj["metadata"]["generation"] == 1 and obj["metadata"]["uid"]
    assert "python:3.11" in kubectl.run("-n", namespace, "get", "deploy", "web", "-o", "yaml").stdout
    assert kubectl.run("-n", namespace, "get", "deploy,svc", "-o", "name").stdout.split() == [
        "deployment.apps/web", "service/web"]
    assert kubectl.run("-n", namespace, "get", "deploy", "-l", "tier=front", "-o", "name").stdout.strip() == "deployment.apps/web"
    assert kubectl.run("-n", namespace, "get", "deploy", "-l", "tier in (back)", "-o", "name").stdout.strip() == ""
    everywhere = kubectl.run("get", "svc", "-A").stdout
    assert namespace in everywhere and "kubernetes" in everywhere
    jp = kubectl.run("-n", namespace, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].name}").stdout
    assert jp == "main"


def test_create_existing_and_invalid(kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT)
    again = kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT, check=False)
    assert again.returncode == 1
    assert 'Error from server (AlreadyExists)' in again.stderr and 'deployments.apps "web" already exists' in again.stderr
    bad = DEPLOYMENT.replace("name: web\n  labels", "name: Bad_Name\n  labels")
    res = kubectl.run("-n", namespace, "create", "-f", "-", input=bad, check=False)
    assert res.returncode == 1 and 'is invalid' in res.stderr and "metadata.name" in res.stderr
    typo = DEPLOYMENT.replace("replicas: 2", "replicass: 2")
    res = kubectl.run("-n", namespace, "create", "-f", "-", input=typo, check=False)
    assert res.returncode == 1 and 'unknown field "spec.replicass"' in res.stderr


def test_apply_client_side_and_diff(kubectl: Kubectl, namespace: str) -> None:
    assert "created" in kubectl.run("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT).stdout
    assert "unchanged" in kubectl.run("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT).stdout
    assert kubectl.run("-n", namespace, "diff", "-f", "-", input=DEPLOYMENT, check=False).returncode == 0
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3").replace("{name: MODE, value: prod}", "{name: MODE, value: dev}")
    diff = kubectl.run("-n", namespace, "diff", "-f", "-", input=changed, check=False)
    assert diff.returncode == 1, diff.stderr
    assert "-  replicas: 2" in diff.stdout and "+  replicas: 3" in diff.stdout
    # diff is a dry run: nothing changed
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 2
    assert "configured" in kubectl.run("-n", namespace, "apply", "-f", "-", input=changed).stdout
    obj = get_json(kubectl, "-n", namespace, "deploy", "web")
    assert obj["spec"]["replicas"] == 3 and obj["metadata"]["generation"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "dev"}]
    # removing the env list from the manifest removes it from the object (3-way strategic merge)
    no_env = changed.replace("        env:\n        - {name: MODE, value: dev}\n", "")
    kubectl.run("-n", namespace, "apply", "-f", "-", input=no_env)
    obj = get_json(kubectl, "-n", namespace, "deploy", "web")
    assert "env" not in obj["spec"]["template"]["spec"]["containers"][0]


def test_apply_server_side_conflicts(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl.run("-n", namespace, "apply", "--server-side", "-f", "-", input=DEPLOYMENT).stdout
    assert "serverside-applied" in out
    obj = get_json(kubectl, "-n", namespace, "deploy", "web", "--show-managed-fields")
    managers = {m["manager"]: m for m in obj["metadata"]["managedFields"]}
    assert managers["kubectl"]["operation"] == "Apply"
    assert "f:replicas" in json.dumps(managers["kubectl"]["fieldsV1"])
    # another manager takes replicas with a plain update; the next apply conflicts
    kubectl.run("-n", namespace, "scale", "deploy/web", "--replicas=5")
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 4")
    res = kubectl.run("-n", namespace, "apply", "--server-side", "-f", "-", input=changed, check=False)
    assert res.returncode == 1 and "conflict" in res.stderr.lower() and ".spec.replicas" in res.stderr
    kubectl.run("-n", namespace, "apply", "--server-side", "--force-conflicts", "-f", "-", input=changed)
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 4
    assert kubectl.run("-n", namespace, "diff", "--server-side", "--force-conflicts", "-f", "-", input=changed,
                       check=False).returncode == 0
    # fields dropped from the applied manifest are removed
    fewer = changed.replace("  labels: {app: web, tier: front}\n", "  labels: {app: web}\n")
    kubectl.run("-n", namespace, "apply", "--server-side", "-f", "-", input=fewer)
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["metadata"]["labels"] == {"app": "web"}


def test_patch_types(kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT)
    kubectl.run("-n", namespace, "patch", "deploy", "web", "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}')
    names = [c["name"] for c in get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["template"]["spec"]["containers"]]
    # merged by name, "main" kept; with no $setElementOrder, Kubernetes' mergeSortedSlice puts
    # a new patch item ahead of the server-only ones
    assert names == ["side", "main"]
    kubectl.run("-n", namespace, "patch", "deploy", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":null}}}')
    assert "tier" not in get_json(kubectl, "-n", namespace, "deploy", "web")["metadata"]["labels"]
    kubectl.run("-n", namespace, "patch", "deploy", "web", "--type=json", "-p",
                '[{"op":"replace","path":"/spec/replicas","value":7}]')
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 7
    bad = kubectl.run("-n", namespace, "patch", "deploy", "web", "--type=json", "-p",
                      '[{"op":"remove","path":"/spec/nothere"}]', check=False)
    assert bad.returncode == 1
    same = kubectl.run("-n", namespace, "patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":7}}')
    assert "(no change)" in same.stdout
    # the fourth type, server-side apply, through kubectl's apply path
    kubectl.run("-n", namespace, "apply", "--server-side", "--force-conflicts", "-f", "-", input=DEPLOYMENT)
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 2


def test_scale(kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT)
    assert "scaled" in kubectl.run("-n", namespace, "scale", "deploy/web", "--replicas=4").stdout
    obj = get_json(kubectl, "-n", namespace, "deploy", "web")
    assert obj["spec"]["replicas"] == 4 and obj["metadata"]["generation"] == 2
    kubectl.run("-n", namespace, "scale", "deploy/web", "--current-replicas=4", "--replicas=1")
    stale = kubectl.run("-n", namespace, "scale", "deploy/web", "--current-replicas=4", "--replicas=2", check=False)
    assert stale.returncode == 1
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 1


def _owned_configmaps(kubectl: Kubectl, namespace: str) -> str:
    kubectl.run("-n", namespace, "create", "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owner"},"data":{"a":"1"}}')
    uid = get_json(kubectl, "-n", namespace, "cm", "owner")["metadata"]["uid"]
    dep = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dependent", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid, "blockOwnerDeletion": True}]}}
    kubectl.run("-n", namespace, "create", "-f", "-", input=json.dumps(dep))
    return uid


def _exists(kubectl: Kubectl, namespace: str, name: str) -> bool:
    return kubectl.run("-n", namespace, "get", "cm", name, check=False).returncode == 0


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
def test_delete_propagation(kubectl: Kubectl, namespace: str, cascade: str) -> None:
    _owned_configmaps(kubectl, namespace)
    out = kubectl.run("-n", namespace, "delete", "cm", "owner", f"--cascade={cascade}", timeout=60).stdout
    assert 'configmap "owner" deleted' in out
    assert not _exists(kubectl, namespace, "owner")
    if cascade == "orphan":
        dep = get_json(kubectl, "-n", namespace, "cm", "dependent")
        assert "ownerReferences" not in dep["metadata"]
    else:
        wait_for(lambda: not _exists(kubectl, namespace, "dependent"), what="dependent deleted")
    missing = kubectl.run("-n", namespace, "delete", "cm", "nothere", check=False)
    assert missing.returncode == 1 and 'configmaps "nothere" not found' in missing.stderr


def test_get_watch(kubectl: Kubectl, namespace: str) -> None:
    watcher = kubectl.popen("-n", namespace, "get", "cm", "-w", "--request-timeout=0")
    try:
        # Created before or after the watch's initial list, the object must show up as a row.
        kubectl.run("-n", namespace, "apply", "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"seen"},"data":{"a":"b"}}')
        assert watcher.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = watcher.stdout.readline()
            lines.append(line)
            if line.startswith("seen"):
                break
        assert any(line.startswith("seen") for line in lines), lines
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)


def test_describe(kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT)
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"}, "type": "Normal",
             "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-abc to 2",
             "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": namespace,
                                "uid": get_json(kubectl, "-n", namespace, "deploy", "web")["metadata"]["uid"]},
             "source": {"component": "deployment-controller"}, "count": 1,
             "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}
    kubectl.run("-n", namespace, "create", "-f", "-", input=json.dumps(event))
    out = kubectl.run("-n", namespace, "describe", "deploy", "web").stdout
    assert "Name:" in out and "web" in out and "RollingUpdate" in out
    assert "ScalingReplicaSet" in out and "Scaled up replica set web-abc to 2" in out


def test_readonly_kubeconfig(kubectl: Kubectl, daemon: Daemon, namespace: str) -> None:
    kubectl.run("-n", namespace, "create", "-f", "-", input=DEPLOYMENT)
    ro = daemon.readonly_kubeconfig
    assert "web" in kubectl.run("-n", namespace, "get", "deploy", kubeconfig=ro).stdout
    denied = kubectl.run("-n", namespace, "scale", "deploy/web", "--replicas=3", kubeconfig=ro, check=False)
    assert denied.returncode == 1 and "Forbidden" in denied.stderr
    denied = kubectl.run("-n", namespace, "delete", "deploy", "web", kubeconfig=ro, check=False)
    assert denied.returncode == 1 and "forbidden" in denied.stderr.lower()
    secrets = kubectl.run("-n", namespace, "get", "secrets", kubeconfig=ro, check=False)
    assert secrets.returncode == 1 and "forbidden" in secrets.stderr.lower()
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 2
