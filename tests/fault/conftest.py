"""Fault suite kit: real ``gitkube up`` daemons with a local node, a working clone that pushes to the
hosted repository with the real git CLI, and helpers to kill things and check what survived.

Every daemon here uses the suite's own address ranges (Services 127.71.0.0/16, pods
127.48.0.0/13), short node timings and a data dir of its own; the container supervisors a
killed daemon leaves behind (by design: a restarted agent adopts them) are reaped at teardown.
The suite runs in one process, one daemon at a time.

Knobs: ``GITKUBE_FAULT_RUNS`` (kill -9 runs of test_daemon_kill, default 4; 20 for the full
count), ``GITKUBE_FAULT_SEED`` (the random delays' seed, default 8).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import yaml

from gitkube.testing.servers import server_container
from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_workloads import reap_containers

T = TypeVar("T")

NODE = "fault-node"
NS = "fault"
SERVICE_CIDR = "127.71.0.0/16"
CLUSTER_CIDR = "127.48.0.0/13"
DAEMON_ARGS = ["--node-name", NODE, "--crashloop-backoff", "1s", "--rollout-timeout", "60s",
               "--node-monitor-grace-period", "4s", "--pod-eviction-timeout", "2s",
               "--service-cidr", SERVICE_CIDR, "--cluster-cidr", CLUSTER_CIDR]
FAULT_RUNS = int(os.environ.get("GITKUBE_FAULT_RUNS", "4"))
FAULT_SEED = int(os.environ.get("GITKUBE_FAULT_SEED", "8"))


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = predicate()
    return last


def git(cwd: Path, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def gitkube(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitkube", *args], capture_output=True, text=True, timeout=timeout)


def web_deployment(version: str, replicas: int = 2, labels: dict[str, str] | None = None,
                   name: str = "web") -> dict[str, Any]:
    """A Deployment of the e2e pod server; ``version`` is in the pod template (a change rolls the pods),
    ``labels`` only on the Deployment object (a change does not)."""
    container = server_container(version)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}},
    }


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": data}


def namespace_doc() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}


def token_of(kubeconfig: Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Cluster:
    """One daemon (restartable on the same data dir and port), kubectl, and a working clone."""

    daemon: Daemon
    kubectl: Kubectl
    work: Path
    args: list[str]
    restarts: list[float] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.daemon.data_dir

    @property
    def hosted(self) -> Path:
        return self.data / "repo.git"

    # -- the daemon -------------------------------------------------------------------

    def kill9(self) -> None:
        """kill -9 the daemon process (its pods' supervisors keep running, as after a crash)."""
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.proc.wait(timeout=30)

    def restart(self, timeout: float = 60) -> float:
        """Start the daemon again on the same data dir and port; seconds until /readyz answered."""
        start = time.monotonic()
        fresh = start_daemon(self.data, port=self.daemon.port, timeout=timeout, extra_args=self.args)
        self.daemon.proc = fresh.proc
        took = time.monotonic() - start
        self.restarts.append(took)
        return took

    # -- HTTPS to the API and the engine's endpoints ----------------------------------------

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30,
                content_type: str = "application/json") -> Reply:
        ctx = ssl.create_default_context(cafile=str(self.data / "pki" / "ca.crt"))
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Authorization": f"Bearer {token_of(self.daemon.kubeconfig)}"}
        if data is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.daemon.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                return Reply(resp.status, resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.read())

    def get(self, path: str) -> Any:
        reply = self.request("GET", path)
        assert reply.status == 200, (path, reply.status, reply.body[:500])
        return reply.json()

    def try_get(self, path: str) -> Any:
        """Like :meth:`get`, but ``None`` while the daemon is unreachable or answers an error."""
        try:
            reply = self.request("GET", path, timeout=5)
        except OSError:
            return None
        return reply.json() if reply.status == 200 else None

    def status(self) -> dict[str, Any]:
        return dict(self.get("/gitkube/v1/status"))

    def history(self) -> list[dict[str, Any]]:
        return list(self.get("/gitkube/v1/history?limit=0"))

    def items(self, path: str) -> list[dict[str, Any]]:
        return list(self.get(path)["items"])

    def live_pods(self, selector: str = "app=web") -> list[dict[str, Any]]:
        pods = self.items(f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and p["status"].get("phase") not in ("Succeeded", "Failed")]

    # -- git ------------------------------------------------------------------------------

    def write(self, rel: str, doc: dict[str, Any] | str) -> None:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=1))

    def commit(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.work, "rev-parse", "HEAD").stdout.strip()

    def push(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return git(self.work, "push", "-q", str(self.hosted), "HEAD:main", check=check)

    def push_async(self) -> subprocess.Popen[str]:
        return subprocess.Popen(["git", "push", "-q", str(self.hosted), "HEAD:main"], cwd=self.work,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})

    def hosted_head(self) -> str:
        return git(self.hosted, "rev-parse", "main", check=False).stdout.strip()

    # -- the node's processes ---------------------------------------------------------------

    def attempt_dir(self, pod: dict[str, Any], container: str = "app") -> Path:
        m = pod["metadata"]
        attempts = self.data / "pods" / f"{m['namespace']}_{m['name']}_{m['uid']}" / "runtime" / container
        return max(attempts.iterdir(), key=lambda p: int(p.name))

    def pids(self, pod: dict[str, Any], container: str = "app") -> dict[str, int]:
        """``{"pid": container pid, "shim_pid": its supervisor}`` of the pod's latest attempt."""
        info = json.loads((self.attempt_dir(pod, container) / "pid.json").read_text())
        return {"pid": int(info["pid"]), "shim_pid": int(info["shim_pid"])}

    def shims(self) -> list[psutil.Process]:
        """Live container supervisors of this data dir."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if "gitkube.agent.shim" in cmdline and any(str(self.data) in part for part in cmdline):
                found.append(proc)
        return found


def wait_node_ready(k: Kubectl, node: str, timeout: float = 60) -> None:
    wait_for(lambda: "Ready" in k.run("get", "node", node, check=False).stdout.split(), timeout=timeout,
             what=f"{node} Ready")


@contextlib.contextmanager
def running_cluster(data: Path, work: Path, kube_cache: Path, args: list[str] | None = None) -> Iterator[Cluster]:
    """A daemon with a local node on ``data`` and an empty working clone at ``work``; stopped and
    its pods' supervisors reaped on exit (also after a failed test)."""
    argv = list(args or DAEMON_ARGS)
    d = start_daemon(data, extra_args=argv)
    try:
        k = Kubectl(d.kubeconfig, kube_cache, _kubectl_binary())
        wait_node_ready(k, NODE)
        work.mkdir(parents=True, exist_ok=True)
        git(work, "init", "-q", "-b", "main")
        git(work, "config", "user.email", "fault@example.com")
        git(work, "config", "user.name", "Fault")
        yield Cluster(d, k, work, argv)
    finally:
        stop_daemon(d)
        reap_containers(data)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("fault")
    with running_cluster(base / "data", base / "work", base / "kc") as c:
        yield c
