"""Kill what runs the pods, under load: a container process (restarted in place, restartCount
counts it), a container's supervisor (the pod is replaced or restarted, the ReplicaSet keeps its
count), and a whole second node agent (``gitkube node run``: the node goes NotReady after the
grace period, its pods are evicted and rescheduled on the local node).

The workloads come from git (a push to the hosted repository); a background thread keeps reading
the API and the Service during the faults, and every one of its requests must succeed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from tests.fault.conftest import NODE, NS, Cluster, namespace_doc, wait_for, wait_node_ready, web_deployment

pytestmark = pytest.mark.e2e

NODE2 = "fault-node-2"
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Iterator[Cluster]:
    cluster.write("fault/namespace.yaml", namespace_doc())
    cluster.write("fault/web.yaml", web_deployment("v1", replicas=2))
    cluster.write("fault/service.yaml", SERVICE)
    sha = cluster.commit("two web pods")
    out = cluster.push().stderr
    assert f"Synced {sha[:12]}" in out, out
    yield cluster


class Load:
    """Reads the API (pod list) and the Service in a loop until stopped; counts failures."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.ip = c.get(f"/api/v1/namespaces/{NS}/services/web")["spec"]["clusterIP"]
        self.ok = 0
        self.api_errors: list[str] = []
        self.service_ok = 0
        self.service_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.c.request("GET", f"/api/v1/namespaces/{NS}/pods", timeout=10)
                if reply.status == 200:
                    self.ok += 1
                else:
                    self.api_errors.append(f"{reply.status}: {reply.body[:200]!r}")
            except OSError as exc:
                self.api_errors.append(str(exc))
            try:
                with urllib.request.urlopen(f"http://{self.ip}/", timeout=3) as resp:
                    resp.read()
                self.service_ok += 1
            except OSError:
                self.service_errors += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def ready_pods(c: Cluster, count: int) -> list[dict[str, Any]]:
    pods = c.live_pods()
    ready = [p for p in pods if p["status"].get("phase") == "Running"
             and any(x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions") or [])]
    return ready if len(pods) == len(ready) == count else []


def test_killed_container_restarts_in_place(deployed: Cluster) -> None:
    c = deployed
    [pod, _] = wait_for(lambda: ready_pods(c, 2), timeout=60, what="2 ready pods")
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    old = c.pids(pod)
    with Load(c) as load:
        os.kill(old["pid"], signal.SIGKILL)
        start = time.monotonic()

        def restarted() -> dict[str, Any] | None:
            p = c.get(f"/api/v1/namespaces/{NS}/pods/{name}")
            cs = (p["status"].get("containerStatuses") or [{}])[0]
            return p if cs.get("restartCount", 0) >= 1 and cs.get("ready") else None

        now = wait_for(restarted, timeout=60, what=f"{name} restarted and ready")
        took = time.monotonic() - start
    assert now["metadata"]["uid"] == uid  # the same pod, restarted in place (restartPolicy Always)
    assert now["status"]["containerStatuses"][0]["restartCount"] == 1
    assert not psutil.pid_exists(old["pid"]) or psutil.Process(old["pid"]).status() == psutil.STATUS_ZOMBIE
    assert c.pids(now)["pid"] != old["pid"]
    assert len(ready_pods(c, 2)) == 2
    assert not load.api_errors, load.api_errors[:5]
    print(f"\ncontainer kill -9: restarted and ready in {took:.1f}s; API reads {load.ok} ok, "
          f"Service {load.service_ok} ok / {load.service_errors} failed")


def test_killed_supervisor_pod_is_replaced(deployed: Cluster) -> None:
    c = deployed
    pods = wait_for(lambda: ready_pods(c, 2), timeout=60, what="2 ready pods")
    # not the pod whose container the previous test killed: a second restart of one pod makes the
    # health check call its Deployment crash looping for good (see the suite's report)
    victim = min(pods, key=lambda p: p["status"]["containerStatuses"][0]["restartCount"])
    name = victim["metadata"]["name"]
    ids = c.pids(victim)
    restarts = victim["status"]["containerStatuses"][0]["restartCount"]
    with Load(c) as load:
        os.kill(ids["shim_pid"], signal.SIGKILL)
        start = time.monotonic()

        def recovered() -> list[dict[str, Any]]:
            ready = ready_pods(c, 2)
            if not ready:
                return []
            same = [p for p in ready if p["metadata"]["name"] == name]
            if same and same[0]["status"]["containerStatuses"][0]["restartCount"] <= restarts:
                return []  # neither replaced nor restarted yet
            return ready

        now = wait_for(recovered, timeout=90, what="the pod of the killed supervisor restarted or replaced")
        took = time.monotonic() - start
    # the container under the killed supervisor did not linger next to its replacement
    wait_for(lambda: not psutil.pid_exists(ids["pid"]) or psutil.Process(ids["pid"]).status() == psutil.STATUS_ZOMBIE,
             timeout=30, what=f"container {ids['pid']} of the killed supervisor gone")
    assert len(now) == 2

    def active_rs_ready() -> list[Any]:
        rss = c.items(f"/apis/apps/v1/namespaces/{NS}/replicasets?labelSelector=app=web")
        return [rs["status"].get("readyReplicas") for rs in rss if rs["spec"].get("replicas")]

    wait_for(lambda: active_rs_ready() == [2], timeout=30, what="one active ReplicaSet with 2 ready pods")
    wait_for(lambda: len(c.shims()) == 2, timeout=30, what="one supervisor per running container")
    assert not load.api_errors, load.api_errors[:5]
    how = "replaced" if name not in {p["metadata"]["name"] for p in now} else "restarted in place"
    print(f"\nsupervisor kill -9: pod {how}, 2 ready again in {took:.1f}s")


def test_killed_node_agent_pods_move(deployed: Cluster) -> None:
    c = deployed
    agent = subprocess.Popen([sys.executable, "-m", "gitkube", "node", "run", "--name", NODE2,
                              "--data-dir", str(c.data), "--crashloop-backoff", "1s", "--heartbeat-interval", "1s"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_node_ready(c.kubectl, NODE2)
        c.write("fault/web.yaml", web_deployment("v1", replicas=4))
        sha = c.commit("four web pods, over two nodes")
        out = c.push().stderr
        assert f"Synced {sha[:12]}" in out, out
        nodes = {p["spec"]["nodeName"] for p in wait_for(lambda: ready_pods(c, 4), timeout=60, what="4 ready pods")}
        assert nodes == {NODE, NODE2}, nodes
        with Load(c) as load:
            agent.send_signal(signal.SIGKILL)
            agent.wait(timeout=10)
            start = time.monotonic()

            def not_ready() -> bool:
                node = c.get(f"/api/v1/nodes/{NODE2}")
                cond = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
                return cond["status"] != "True"

            wait_for(not_ready, timeout=30, what=f"{NODE2} NotReady")
            marked = time.monotonic() - start
            moved = wait_for(lambda: (lambda r: r if r and all(p["spec"]["nodeName"] == NODE for p in r) else [])(
                ready_pods(c, 4)), timeout=90, what="4 ready pods, all on the local node")
            took = time.monotonic() - start
        assert len({p["metadata"]["uid"] for p in moved}) == 4
        taints = c.get(f"/api/v1/nodes/{NODE2}")["spec"].get("taints") or []
        assert any(t["key"].startswith("node.kubernetes.io/") for t in taints), taints
        assert not load.api_errors, load.api_errors[:5]
        status = wait_for(lambda: (lambda s: s if s["syncState"] == "Synced" else None)(c.status()), timeout=30,
                          what="status Synced")
        assert status["commit"] == sha
        print(f"\nnode agent kill -9: NotReady after {marked:.1f}s, 4 pods ready on {NODE} after {took:.1f}s; "
              f"API reads {load.ok} ok")
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
