"""Watch options, pod subresources (binding, status, log) and immutable fields, end to end."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.e2e.conftest import Daemon, Kubectl
from tests.e2e.test_daemon import _token, request
from tests.e2e.test_kubectl import DEPLOYMENT, get_json, wait_for

pytestmark = pytest.mark.e2e

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "app", "image": "python:3.11"}]}}


def _stream(daemon: Daemon, path: str) -> list[dict]:
    ctx = ssl.create_default_context(cafile=str(daemon.data_dir / "pki" / "ca.crt"))
    req = urllib.request.Request(daemon.url + path, headers={"Authorization": f"Bearer {_token(daemon)}"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def test_watch_bookmarks_timeout_and_watchlist_refusal(daemon: Daemon, kubectl: Kubectl, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, _, listed = request(daemon, "GET", path)
    rv = listed["metadata"]["resourceVersion"]
    started = time.monotonic()
    events = _stream(daemon, f"{path}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=6")
    elapsed = time.monotonic() - started
    assert 5.5 < elapsed < 15, elapsed  # the server ends the stream at timeoutSeconds
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[0]["object"]["kind"] == "ConfigMap"
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    status, _, body = request(daemon, "GET", f"{path}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                                             "&allowWatchBookmarks=true")
    assert status == 422 and body["reason"] == "Invalid"
    # resourceVersion=0 starts with synthetic ADDED events for what exists
    kubectl.run("-n", namespace, "create", "-f", "-", input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}')
    events = _stream(daemon, f"{path}?watch=true&resourceVersion=0&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "x")]


def test_binding_and_status(daemon: Daemon, namespace: str) -> None:
    api = config.new_client_from_config(config_file=str(daemon.kubeconfig))
    core = client.CoreV1Api(api)
    # bound by hand below: keep the default scheduler away from it
    core.create_namespaced_pod(namespace, {**POD, "spec": {**POD["spec"], "schedulerName": "manual"}})
    binding = client.V1Binding(metadata=client.V1ObjectMeta(name="p"),
                               target=client.V1ObjectReference(kind="Node", name="node-1"))
    core.create_namespaced_binding(namespace, binding, _preload_content=False)
    pod = core.read_namespaced_pod("p", namespace)
    assert pod.spec.node_name == "node-1"
    assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert err.value.status == 409
    st = core.patch_namespaced_pod_status("p", namespace, {"status": {"phase": "Running", "podIP": "127.0.64.9"}})
    assert st.status.phase == "Running" and st.status.pod_ip == "127.0.64.9"
    # a status write cannot change the spec, and the main resource cannot change status
    core.patch_namespaced_pod_status("p", namespace, {"spec": {"activeDeadlineSeconds": 5}})
    assert core.read_namespaced_pod("p", namespace).spec.active_deadline_seconds is None
    core.patch_namespaced_pod("p", namespace, {"status": {"phase": "Failed"}})
    assert core.read_namespaced_pod("p", namespace).status.phase == "Running"
    api.close()


def _log_file(daemon: Daemon, namespace: str, pod: dict, container: str) -> Path:
    m = pod["metadata"]
    path = daemon.data_dir / "pods" / f"{namespace}_{m['name']}_{m['uid']}" / "logs" / container / "0.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_logs(daemon: Daemon, kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "create", "-f", "-", input=json.dumps(POD))
    waiting = kubectl.run("-n", namespace, "logs", "p", check=False)
    assert waiting.returncode == 1 and "waiting to start" in waiting.stderr
    pod = get_json(kubectl, "-n", namespace, "pod", "p")
    log = _log_file(daemon, namespace, pod, "app")
    log.write_text("2026-11-26T10:00:00.000000001Z stdout F first\n"
                   "2026-11-26T10:00:01.000000001Z stderr F second\n"
                   "2026-11-26T10:00:02.000000001Z stdout P par\n"
                   "2026-11-26T10:00:02.500000001Z stdout F tial\n")
    assert kubectl.run("-n", namespace, "logs", "p").stdout == "first\nsecond\npartial\n"
    assert kubectl.run("-n", namespace, "logs", "p", "--tail=1").stdout == "tial\n"
    stamped = kubectl.run("-n", namespace, "logs", "p", "--timestamps").stdout.splitlines()
    assert stamped[0] == "2026-11-26T10:00:00.000000001Z first"
    follower = kubectl.popen("-n", namespace, "logs", "-f", "p")
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "first\n"
        with log.open("a") as fh:
            fh.write("2026-11-26T10:00:03.000000001Z stdout F appended\n")
        lines = [follower.stdout.readline() for _ in range(3)]
        assert lines[-1] == "appended\n", lines
        kubectl.run("-n", namespace, "delete", "pod", "p")
        assert follower.wait(timeout=20) == 0  # the stream ends when the pod is gone
    finally:
        if follower.poll() is None:
            follower.kill()


def test_immutable_fields(kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT)
    moved = DEPLOYMENT.replace("matchLabels: {app: web}", "matchLabels: {app: web2}").replace(
        "labels: {app: web}\n    spec", "labels: {app: web2}\n    spec")
    res = kubectl.run("-n", namespace, "apply", "-f", "-", input=moved, check=False)
    assert res.returncode == 1 and "spec.selector" in res.stderr and "field is immutable" in res.stderr
    svc = '{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}'
    kubectl.run("-n", namespace, "create", "-f", "-", input=svc)
    ip = get_json(kubectl, "-n", namespace, "svc", "s")["spec"]["clusterIP"]
    other = "127.96.250.250" if ip != "127.96.250.250" else "127.96.250.251"
    res = kubectl.run("-n", namespace, "patch", "svc", "s", "--type=merge", "-p",
                      json.dumps({"spec": {"clusterIP": other, "clusterIPs": [other]}}), check=False)
    assert res.returncode == 1 and "spec.clusterIPs[0]" in res.stderr and "may not change once set" in res.stderr
    assert get_json(kubectl, "-n", namespace, "svc", "s")["spec"]["clusterIP"] == ip


def test_dry_run_server_changes_nothing(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl.run("-n", namespace, "apply", "--dry-run=server", "-f", "-", input=DEPLOYMENT).stdout
    assert "(server dry run)" in out
    assert kubectl.run("-n", namespace, "get", "deploy", "-o", "name").stdout == ""
    kubectl.run("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT)
    kubectl.run("-n", namespace, "delete", "deploy", "web", "--dry-run=server")
    kubectl.run("-n", namespace, "scale", "deploy/web", "--replicas=9", "--dry-run=server")
    assert get_json(kubectl, "-n", namespace, "deploy", "web")["spec"]["replicas"] == 2


def test_kubectl_delete_namespace_waits_until_empty(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input='{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"doomed-e2e"}}')
    kubectl.run("-n", "doomed-e2e", "apply", "-f", "-", input=DEPLOYMENT)
    out = kubectl.run("delete", "namespace", "doomed-e2e", timeout=60).stdout
    assert 'namespace "doomed-e2e" deleted' in out
    assert kubectl.run("get", "ns", "doomed-e2e", check=False).returncode == 1
    assert wait_for(lambda: kubectl.run("get", "deploy", "-n", "doomed-e2e", "-o", "name").stdout == "", what="empty")

