"""Issue 3 end to end: Deployments run as real sandboxed processes behind a Service.

One daemon with short timings (CrashLoopBackOff base 1 s, node grace 5 s, eviction 5 s),
real kubectl, real HTTP through the service proxy's ClusterIP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for

pytestmark = pytest.mark.e2e

from gitkube.testing.servers import server_container  # noqa: E402  (SERVER re-exported for other e2e tests)

# Own address ranges, so this daemon never collides with another test daemon's VIPs or pod IPs.
DAEMON_ARGS = ["--node-name", "node-1", "--crashloop-backoff", "1s", "--node-monitor-grace-period", "5s",
               "--pod-eviction-timeout", "5s", "--service-cidr", "127.97.0.0/16", "--cluster-cidr", "127.128.0.0/10"]


def deployment(name: str = "web", replicas: int = 3, version: str = "v1", extra: dict | None = None) -> str:
    container = server_container(version)
    container.update(extra or {})
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}},
    })


def service(name: str = "web") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                       "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]}})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl]]:
    data = tmp_path_factory.mktemp("workloads") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    wait_for(lambda: "Ready" in k.run("get", "node", "node-1", check=False).stdout.split(), timeout=30,
             what="node-1 Ready")
    yield d, k
    stop_daemon(d)
    reap_containers(data)


def reap_containers(data: Path) -> None:
    """Kill container supervisors left under ``data``: those of a node agent that was killed
    (by design they outlive it, waiting to be adopted by a restarted agent)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "gitkube.agent.shim" in cmdline and any(str(data) in part for part in cmdline):
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    child.kill()
                proc.kill()


def ensure_namespace(k: Kubectl, name: str) -> None:
    # `kubectl create namespace` sends protobuf, which gitkube does not speak: apply JSON instead.
    k.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))


def fetch(url: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def ready_count(k: Kubectl, ns: str, name: str) -> int:
    dep = get_json(k, "-n", ns, "deploy", name)
    return int(dep.get("status", {}).get("readyReplicas") or 0)


def test_deployment_behind_service(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    ensure_namespace(k, "svc-test")
    ns = "svc-test"
    k.run("-n", ns, "apply", "-f", "-", input=deployment())
    k.run("-n", ns, "apply", "-f", "-", input=service())
    k.run("-n", ns, "rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    pods = get_json(k, "-n", ns, "pods", "-l", "app=web")["items"]
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
    assert len({p["status"]["podIP"] for p in pods}) == 3
    ip = get_json(k, "-n", ns, "svc", "web")["spec"]["clusterIP"]
    eps = get_json(k, "-n", ns, "endpoints", "web")
    assert len(eps["subsets"][0]["addresses"]) == 3
    seen = {fetch(f"http://{ip}:80/").split()[0] for _ in range(30)}
    assert seen == {p["metadata"]["name"] for p in pods}
    logs = k.run("-n", ns, "logs", pods[0]["metadata"]["name"]).stdout
    assert "serving on" in logs


def test_rolling_update_without_failed_requests_then_undo(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    ns = "svc-test"
    ip = get_json(k, "-n", ns, "svc", "web")["spec"]["clusterIP"]
    failures: list[str] = []
    versions: set[str] = set()
    stop = threading.Event()
    count = [0]

    def load() -> None:
        while not stop.is_set():
            try:
                versions.add(fetch(f"http://{ip}:80/").split()[1])
                count[0] += 1
            except (urllib.error.URLError, OSError, IndexError) as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        k.run("-n", ns, "apply", "-f", "-", input=deployment(version="v2"))
        k.run("-n", ns, "rollout", "status", "deploy/web", "--timeout=120s", timeout=150)
        wait_for(lambda: "v2" in versions, what="v2 served")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert count[0] > 50 and failures == [], (count[0], failures[:5])
    history = k.run("-n", ns, "rollout", "history", "deploy/web").stdout
    assert "1" in history and "2" in history
    k.run("-n", ns, "rollout", "undo", "deploy/web")
    k.run("-n", ns, "rollout", "status", "deploy/web", "--timeout=120s", timeout=150)
    wait_for(lambda: {fetch(f"http://{ip}:80/").split()[1] for _ in range(10)} == {"v1"}, timeout=30, what="v1 back")
    rs = get_json(k, "-n", ns, "rs", "-l", "app=web")["items"]
    assert sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in rs) == ["2", "3"]


def _container_status(k: Kubectl, ns: str, pod: str) -> dict:
    statuses = get_json(k, "-n", ns, "pod", pod).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def _host_pid(d: Daemon, pod: dict, container: str) -> int:
    m = pod["metadata"]
    attempts = d.data_dir / "pods" / f"{m['namespace']}_{m['name']}_{m['uid']}" / "runtime" / container
    latest = max(attempts.iterdir(), key=lambda p: int(p.name))
    return int(json.loads((latest / "pid.json").read_text())["pid"])


def test_restarts_crashloop_and_liveness(cluster: tuple[Daemon, Kubectl]) -> None:
    d, k = cluster
    ensure_namespace(k, "restarts")
    ns = "restarts"
    k.run("-n", ns, "apply", "-f", "-", input=deployment("one", replicas=1))
    k.run("-n", ns, "rollout", "status", "deploy/one", "--timeout=60s", timeout=90)
    pod = get_json(k, "-n", ns, "pods", "-l", "app=one")["items"][0]
    # The pid the app reports is its pid inside the sandbox's PID namespace; kill the host
    # process the runtime recorded (the sandbox) and everything below it.
    os.kill(_host_pid(d, pod, "app"), signal.SIGKILL)
    wait_for(lambda: _container_status(k, ns, pod["metadata"]["name"]).get("restartCount", 0) >= 1, timeout=30,
             what="restart after kill")
    # a container that exits at once ends in CrashLoopBackOff with growing delays
    crash = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash"},
             "spec": {"containers": [{"name": "c", "image": "x", "command": [sys.executable, "-c", "raise SystemExit(3)"]}]}}
    k.run("-n", ns, "apply", "-f", "-", input=json.dumps(crash))
    wait_for(lambda: (_container_status(k, ns, "crash").get("state", {}).get("waiting") or {}).get("reason")
             == "CrashLoopBackOff" and _container_status(k, ns, "crash").get("restartCount", 0) >= 2,
             timeout=60, what="CrashLoopBackOff")
    last = _container_status(k, ns, "crash")["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    events = k.run("-n", ns, "get", "events", "--field-selector", "involvedObject.name=crash").stdout
    assert "BackOff" in events
    # a failing liveness probe restarts the container
    live = deployment("live", replicas=1, extra={"livenessProbe": {"httpGet": {"path": "/", "port": 9999},
                                                                   "periodSeconds": 1, "failureThreshold": 2}})
    k.run("-n", ns, "apply", "-f", "-", input=live)
    wait_for(lambda: any(_container_status(k, ns, p["metadata"]["name"]).get("restartCount", 0) >= 1
                         for p in get_json(k, "-n", ns, "pods", "-l", "app=live")["items"]),
             timeout=60, what="liveness restart")


def test_second_node_spread_and_failover(cluster: tuple[Daemon, Kubectl]) -> None:
    d, k = cluster
    proc = subprocess.Popen([sys.executable, "-m", "gitkube", "node", "run", "--name", "node-2",
                             "--data-dir", str(d.data_dir), "--crashloop-backoff", "1s",
                             "--heartbeat-interval", "1s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: "Ready" in k.run("get", "node", "node-2", check=False).stdout.split(), timeout=30,
                 what="node-2 Ready")
        ensure_namespace(k, "spread")
        k.run("-n", "spread", "apply", "-f", "-", input=deployment("spread", replicas=4))
        k.run("-n", "spread", "rollout", "status", "deploy/spread", "--timeout=90s", timeout=120)
        nodes = {p["spec"]["nodeName"] for p in get_json(k, "-n", "spread", "pods", "-l", "app=spread")["items"]}
        assert nodes == {"node-1", "node-2"}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        def all_on_node1() -> bool:
            pods = get_json(k, "-n", "spread", "pods", "-l", "app=spread")["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            return len(live) == 4 and all(p["spec"].get("nodeName") == "node-1" and p["status"].get("phase") == "Running"
                                          for p in live)

        wait_for(all_on_node1, timeout=90, what="pods rescheduled on node-1")
        node2 = get_json(k, "node", "node-2")
        ready = next(c for c in node2["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_daemon_restart_keeps_running_pods(cluster: tuple[Daemon, Kubectl]) -> None:
    d, k = cluster
    ns = "svc-test"
    pods = get_json(k, "-n", ns, "pods", "-l", "app=web")["items"]
    before = {p["metadata"]["name"]: fetch(f"http://{p['status']['podIP']}:8080/").split()[2] for p in pods}
    stop_daemon(d, signal.SIGKILL)
    restarted = start_daemon(d.data_dir, port=d.port, extra_args=DAEMON_ARGS)
    d.proc = restarted.proc
    wait_for(lambda: ready_count(k, ns, "web") == 3, timeout=60, what="ready after restart")
    after = {p["metadata"]["name"]: fetch(f"http://{p['status']['podIP']}:8080/").split()[2]
             for p in get_json(k, "-n", ns, "pods", "-l", "app=web")["items"]}
    assert after == before


def test_bad_input_shows_kubernetes_reasons(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    ensure_namespace(k, "bad")
    ns = "bad"

    def pod(name: str, **spec: object) -> str:
        base = {"containers": [{"name": "c", "image": "x", "command": [sys.executable, "-c", "import time; time.sleep(60)"]}]}
        base.update(spec)  # type: ignore[arg-type]
        return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": base})

    k.run("-n", ns, "apply", "-f", "-", input=pod("nocmd", containers=[{"name": "c", "image": "x", "command": ["no-such-cmd"]}]))
    k.run("-n", ns, "apply", "-f", "-", input=pod("nofit", nodeSelector={"disk": "ssd"}))
    closed = {"name": "c", "image": "x", "command": [sys.executable, "-c", "import time; time.sleep(60)"],
              "readinessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1}}
    k.run("-n", ns, "apply", "-f", "-", input=pod("probe", containers=[closed]))

    def waiting_reason(name: str) -> str:
        st = _container_status(k, ns, name)
        state = st.get("state", {})
        return str((state.get("waiting") or state.get("terminated") or {}).get("reason", ""))

    wait_for(lambda: waiting_reason("nocmd") in ("ContainerCannotRun", "CrashLoopBackOff")
             and _container_status(k, ns, "nocmd").get("restartCount", 0) >= 1, timeout=60, what="ContainerCannotRun")
    events = k.run("-n", ns, "get", "events", "--field-selector", "involvedObject.name=nocmd").stdout
    assert 'executable file not found in $PATH' in events

    def unschedulable() -> bool:
        conds = get_json(k, "-n", ns, "pod", "nofit").get("status", {}).get("conditions") or []
        return any(c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable"
                   for c in conds)

    wait_for(unschedulable, timeout=30, what="Unschedulable")
    described = k.run("-n", ns, "describe", "pod", "nofit").stdout
    assert "FailedScheduling" in described and "didn't match Pod's node affinity/selector" in described

    wait_for(lambda: "Readiness probe failed" in k.run("-n", ns, "describe", "pod", "probe").stdout, timeout=30,
             what="Unhealthy event")
    assert not any(c["type"] == "Ready" and c["status"] == "True"
                   for c in get_json(k, "-n", ns, "pod", "probe")["status"].get("conditions") or [])
    # a port already taken: two containers of one pod bind the same pod IP:port
    bind = ("import os, socket, time; s = socket.socket(); s.bind((os.environ['POD_IP'], 8081)); s.listen(); "
            "time.sleep(60)")
    env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    twice = [{"name": n, "image": "x", "command": [sys.executable, "-c", bind], "env": env} for n in ("a", "b")]
    k.run("-n", ns, "apply", "-f", "-", input=pod("taken", containers=twice))

    def one_crashing() -> bool:
        statuses = get_json(k, "-n", ns, "pod", "taken").get("status", {}).get("containerStatuses") or []
        return any(s.get("restartCount", 0) >= 1 and ((s.get("lastState") or {}).get("terminated") or {}).get("exitCode") == 1
                   for s in statuses)

    wait_for(one_crashing, timeout=60, what="the second binder crashing")
    assert "Address already in use" in "".join(
        k.run("-n", ns, "logs", "taken", "-c", c, "--previous", check=False).stdout for c in ("a", "b"))
    # the rest of the cluster keeps running
    node = k.run("describe", "node", "node-1").stdout
    assert "Ready" in node and "node-1" in node
    dep = k.run("-n", "svc-test", "describe", "deployment", "web").stdout
    assert "RollingUpdate" in dep and "NewReplicaSetAvailable" in dep
