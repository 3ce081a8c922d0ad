"""Issue 6 end to end: a StatefulSet of real sandboxed pods with volumes from the local provisioner.

One daemon with a local node. The StatefulSet is scaled 0 -> 3 (pods appear one at a time, in
ordinal order, each after the previous one is Ready) and 3 -> 1 (removed from the highest
ordinal down); each pod gets a claim ``data-db-<n>`` bound to a directory under
``DATA/volumes`` that outlives it; data pod db-0 wrote survives deleting db-0 (the new db-0
reads it); the headless Service's endpoints carry the pods' hostnames; ``kubectl rollout
status|history|undo`` work.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import ensure_namespace, reap_containers

pytestmark = pytest.mark.e2e

DAEMON_ARGS = ["--node-name", "sts-node", "--service-cidr", "127.85.0.0/16", "--cluster-cidr", "127.80.0.0/12"]
NS = "stateful"

# Writes /data/first-boot once (the pod uid of the first pod to use the volume), appends a line per
# start to /data/boots, and serves both over HTTP on the pod IP.
SERVER = r"""
import http.server, os, pathlib
data = pathlib.Path("/data")
first = data / "first-boot"
if not first.exists():
    first.write_text(os.environ["POD_UID"])
with (data / "boots").open("a") as f:
    f.write(os.environ["POD_UID"] + "\n")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = json.dumps({"name": os.environ["POD_NAME"], "uid": os.environ["POD_UID"],
                           "first": first.read_text(), "boots": (data / "boots").read_text().split()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
import json
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""


def statefulset(replicas: int, version: str = "v1") -> str:
    env = [{"name": "VERSION", "value": version}] + [
        {"name": n, "valueFrom": {"fieldRef": {"fieldPath": p}}}
        for n, p in (("POD_NAME", "metadata.name"), ("POD_UID", "metadata.uid"), ("POD_IP", "status.podIP"))]
    container = {"name": "app", "image": "python:3.11", "command": [sys.executable, "-c", SERVER], "env": env,
                 "ports": [{"containerPort": 8080, "name": "http"}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": replicas, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "64Mi"}}}}]},
    })


HEADLESS = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                       "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 8080}]}})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl]]:
    data = tmp_path_factory.mktemp("statefulset") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    try:
        wait_for(lambda: "Ready" in k.run("get", "node", "sts-node", check=False).stdout.split(), timeout=30,
                 what="sts-node Ready")
        yield d, k
    finally:
        stop_daemon(d)
        reap_containers(data)


class PodLog:
    """Polls the namespace's pod names in the background: the distinct sets seen, in order."""

    def __init__(self, k: Kubectl) -> None:
        self.k = k
        self.sets: list[tuple[str, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            items = get_json(self.k, "-n", NS, "pods")["items"]
            names = tuple(sorted(p["metadata"]["name"] for p in items))
            if not self.sets or self.sets[-1] != names:
                self.sets.append(names)
            time.sleep(0.1)

    def __enter__(self) -> PodLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pod_answer(k: Kubectl, name: str) -> dict:
    ip = get_json(k, "-n", NS, "pod", name)["status"]["podIP"]
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=3) as resp:
        return dict(json.loads(resp.read()))


def ready_time(pod: dict) -> str:
    return next(c["lastTransitionTime"] for c in pod["status"]["conditions"] if c["type"] == "Ready")


def test_scale_in_order_with_volumes_and_headless_endpoints(cluster: tuple[Daemon, Kubectl]) -> None:
    d, k = cluster
    ensure_namespace(k, NS)
    k.run("-n", NS, "apply", "-f", "-", input=HEADLESS)
    k.run("-n", NS, "apply", "-f", "-", input=statefulset(0))
    wait_for(lambda: get_json(k, "-n", NS, "sts", "db").get("status", {}).get("observedGeneration") == 1,
             what="sts observed")
    assert get_json(k, "-n", NS, "pods")["items"] == []

    with PodLog(k) as log:
        k.run("-n", NS, "scale", "sts/db", "--replicas=3")
        k.run("-n", NS, "rollout", "status", "sts/db", "--timeout=90s", timeout=120)
        # the poller must have seen the final state too before it stops
        wait_for(lambda: log.sets[-1:] == [("db-0", "db-1", "db-2")], timeout=10, what="the log to see 3 pods")
    grown = [s for s in log.sets if s]
    assert grown == [("db-0",), ("db-0", "db-1"), ("db-0", "db-1", "db-2")], log.sets
    pods = {p["metadata"]["name"]: p for p in get_json(k, "-n", NS, "pods")["items"]}
    for before, after in (("db-0", "db-1"), ("db-1", "db-2")):
        assert ready_time(pods[before]) <= pods[after]["metadata"]["creationTimestamp"]
    assert all(p["spec"]["hostname"] == n and p["spec"]["subdomain"] == "db" for n, p in pods.items())

    claims = {c["metadata"]["name"]: c for c in get_json(k, "-n", NS, "pvc")["items"]}
    assert set(claims) == {"data-db-0", "data-db-1", "data-db-2"}
    assert all(c["status"]["phase"] == "Bound" for c in claims.values())
    volume = get_json(k, "pv", claims["data-db-0"]["spec"]["volumeName"])
    host_dir = Path(volume["spec"]["hostPath"]["path"])
    assert host_dir.parent == d.data_dir / "volumes"
    assert (host_dir / "first-boot").read_text() == pods["db-0"]["metadata"]["uid"]
    table = k.run("-n", NS, "get", "pvc").stdout
    assert table.split("\n")[0].split()[:5] == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS"]
    assert "data-db-0   Bound" in table and "64Mi" in table and "RWO" in table

    def hostnames() -> set[str]:
        eps = get_json(k, "-n", NS, "endpoints", "db")
        return {a.get("hostname", "") for s in eps.get("subsets") or [] for a in s.get("addresses") or []}

    wait_for(lambda: hostnames() == {"db-0", "db-1", "db-2"}, timeout=20, what="endpoint hostnames")

    with PodLog(k) as log:
        k.run("-n", NS, "scale", "sts/db", "--replicas=1")
        wait_for(lambda: log.sets[-1:] == [("db-0",)], timeout=60, what="scaled to db-0 (as the poller saw it)")
    shrunk = log.sets[log.sets.index(("db-0", "db-1", "db-2")):] if ("db-0", "db-1", "db-2") in log.sets else log.sets
    assert shrunk == [("db-0", "db-1", "db-2"), ("db-0", "db-1"), ("db-0",)], log.sets
    assert {c["metadata"]["name"] for c in get_json(k, "-n", NS, "pvc")["items"]} == set(claims)  # retained
    k.run("-n", NS, "rollout", "status", "sts/db", "--timeout=30s", timeout=60)


def test_data_survives_pod_deletion_and_rollout_undo(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    first = get_json(k, "-n", NS, "pod", "db-0")
    answer = wait_for(lambda: pod_answer(k, "db-0"), what="db-0 answers")
    assert answer["first"] == answer["boots"][0] and answer["uid"] == first["metadata"]["uid"]

    k.run("-n", NS, "delete", "pod", "db-0", "--wait=false")

    def recreated() -> dict | None:
        items = get_json(k, "-n", NS, "pods")["items"]
        pod = next((p for p in items if p["metadata"]["name"] == "db-0"), None)
        if pod is None or pod["metadata"]["uid"] == first["metadata"]["uid"]:
            return None
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])
        return pod if ready else None

    second = wait_for(recreated, timeout=60, what="db-0 recreated and Ready")
    after = pod_answer(k, "db-0")
    assert after["uid"] == second["metadata"]["uid"]
    assert after["first"] == answer["first"]  # written by the first db-0, read by the second
    assert after["boots"][-1] == second["metadata"]["uid"] and len(after["boots"]) >= 2

    k.run("-n", NS, "apply", "-f", "-", input=statefulset(1, version="v2"))
    k.run("-n", NS, "rollout", "status", "sts/db", "--timeout=60s", timeout=90)
    env = get_json(k, "-n", NS, "pod", "db-0")["spec"]["containers"][0]["env"]
    assert {"name": "VERSION", "value": "v2"} in env
    history = k.run("-n", NS, "rollout", "history", "sts/db").stdout
    assert "1" in history and "2" in history
    k.run("-n", NS, "rollout", "undo", "sts/db")
    k.run("-n", NS, "rollout", "status", "sts/db", "--timeout=60s", timeout=90)
    env = get_json(k, "-n", NS, "pod", "db-0")["spec"]["containers"][0]["env"]
    assert {"name": "VERSION", "value": "v1"} in env
    assert pod_answer(k, "db-0")["first"] == answer["first"]


def test_bad_input_is_a_422_with_field_paths(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    bad = json.loads(statefulset(1))
    bad["metadata"]["name"] = "mismatch"
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    out = k.run("-n", NS, "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0
    assert 'The StatefulSet "mismatch" is invalid' in out.stderr
    assert "spec.template.metadata.labels: Invalid value" in out.stderr and "`selector` does not match" in out.stderr
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "nosize"},
             "spec": {"accessModes": ["ReadWriteOnce"]}}
    out = k.run("-n", NS, "apply", "-f", "-", input=json.dumps(claim), check=False)
    assert out.returncode != 0 and "spec.resources[storage]: Required value" in out.stderr
    assert k.run("-n", NS, "get", "sts", "mismatch", check=False).returncode != 0
