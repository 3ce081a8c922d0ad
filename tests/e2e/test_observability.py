"""Issue 7 observability end to end: a daemon with a local node, ``--log-format json`` and two
``--notify-url`` receivers (one failing twice before it accepts), deployed to by a git push.

Checks: ``/metrics`` (any valid token, 401 without) parses with prometheus-client's own parser and
carries the named series with sane values; ``kubectl get events -n gitkube-system`` shows the sync;
both receivers get the signed ``synced`` document (the failing one through retries); drift is
counted and notified; every line the daemon writes is a JSON object.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, free_port, stop_daemon
from tests.e2e.test_gitops import git, web_deployment
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import reap_containers

pytestmark = pytest.mark.e2e

NS = "shop"
SECRET = "notify-hmac-key"
NODE = "obs-node"


@dataclass
class Receiver:
    """A local aiohttp webhook receiver on port 0, on its own loop in a thread."""

    fail_first: int = 0
    attempts: int = 0
    documents: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return web.Response(status=503)
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            self.signatures_ok.append(hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")))
            self.documents.append(json.loads(body))
        return web.Response(status=200)

    def events(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for d in self.documents if d.get("event") == kind]


class Receivers:
    def __init__(self, *receivers: Receiver) -> None:
        self.receivers = receivers
        self.loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert started.wait(10)

    async def _start(self) -> None:
        for rec in self.receivers:
            app = web.Application()
            app.router.add_post("/hook", rec.handle)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            rec.url = f"http://127.0.0.1:{port}/hook"
            self._runners.append(runner)

    def close(self) -> None:
        async def stop() -> None:
            for runner in self._runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_json_daemon(data_dir: Path, extra_args: list[str], env: dict[str, str], timeout: float = 30.0) -> Daemon:
    """``start_daemon`` with the global ``--log-format json`` (it goes before ``up``) and ``env``."""
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitkube", "--log-level", "info", "--log-format", "json", "up", "--data-dir",
         str(data_dir), "--listen", f"127.0.0.1:{port}", *extra_args],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **env})
    daemon = Daemon(data_dir, port, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gitkube up exited with {proc.returncode}:\n{daemon.log()}")
        if daemon.kubeconfig.exists() and _get(daemon, "/readyz", None)[0] == 200:
            return daemon
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gitkube up not ready after {timeout}s:\n{daemon.log()}")


def _get(daemon: Daemon, path: str, token: str | None) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(daemon.data_dir / "pki" / "ca.crt"))
    ctx.check_hostname = False
    request = urllib.request.Request(f"{daemon.url}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def scrape(daemon: Daemon, token: str | None) -> tuple[int, str]:
    return _get(daemon, "/metrics", token)


def token_of(kubeconfig: Path) -> str:
    import yaml

    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])


def series(body: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def total(found: dict[str, list[tuple[dict[str, str], float]]], series_name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(series_name, []) if all(got.get(k) == want for k, want in labels.items()))


@dataclass
class Env:
    daemon: Daemon
    kubectl: Kubectl
    work: Path
    good: Receiver
    flaky: Receiver

    def push(self) -> subprocess.CompletedProcess[str]:
        return git(self.work, "push", str(self.daemon.data_dir / "repo.git"), "HEAD:main")

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        status, body = scrape(self.daemon, token_of(self.daemon.kubeconfig))
        assert status == 200, body
        return series(body)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    good, flaky = Receiver(), Receiver(fail_first=2)
    receivers = Receivers(good, flaky)
    data = tmp_path_factory.mktemp("observability") / "data"
    # the HMAC secret comes from the environment, off the command line
    d = start_json_daemon(data, ["--node-name", NODE, "--crashloop-backoff", "1s", "--rollout-timeout", "60s",
                                 "--service-cidr", "127.78.0.0/16", "--cluster-cidr", "127.104.0.0/14",
                                 "--notify-url", good.url, "--notify-url", flaky.url],
                          env={"GITKUBE_NOTIFY_SECRET": SECRET})
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    wait_for(lambda: "Ready" in k.run("get", "node", NODE, check=False).stdout.split(), timeout=30,
             what=f"{NODE} Ready")
    work = tmp_path_factory.mktemp("work")
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "dev@example.com")
    git(work, "config", "user.name", "Dev")
    try:
        yield Env(d, k, work, good, flaky)
    finally:
        stop_daemon(d)
        reap_containers(data)
        receivers.close()


def test_push_then_metrics(env: Env) -> None:
    (env.work / "shop").mkdir()
    (env.work / "shop" / "namespace.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    (env.work / "shop" / "web.yaml").write_text(web_deployment("v1"))  # namespace "shop" (NS)
    (env.work / "shop" / "secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: {NS}\nstringData:\n  key: topsecret-42\n")
    git(env.work, "add", "-A")
    git(env.work, "commit", "-q", "-m", "shop v1")
    sha = git(env.work, "rev-parse", "HEAD").stdout.strip()
    out = env.push().stderr
    assert f"Synced {sha[:12]}" in out, out

    assert scrape(env.daemon, None)[0] == 401
    assert scrape(env.daemon, "wrong")[0] == 401
    status, body = scrape(env.daemon, token_of(env.daemon.readonly_kubeconfig))
    assert status == 200
    found = series(body)
    assert total(found, "gitkube_sync_total", outcome="Synced") == 1
    assert total(found, "gitkube_sync_total") == 1
    assert total(found, "gitkube_sync_duration_seconds_count") == 1
    assert 0 < total(found, "gitkube_sync_duration_seconds_sum") < 60
    [(info, one)] = found["gitkube_sync_info"]
    assert one == 1 and info["commit"] == sha and info["branch"] == "main" and info["state"] == "Synced"
    assert total(found, "apiserver_request_total", verb="list", resource="pods") > 0
    assert total(found, "apiserver_request_duration_seconds_count", verb="list", resource="pods") > 0
    assert total(found, "apiserver_request_total", verb="patch", resource="deployments", code="201") >= 1  # SSA
    assert total(found, "gitkube_pods", phase="Running") >= 1
    assert total(found, "workqueue_adds_total", name="deployment-controller") >= 1
    assert total(found, "workqueue_adds_total", name="replicaset-controller") >= 1
    assert "workqueue_depth" in found and total(found, "gitkube_rollbacks_total") == 0
    assert total(found, "gitkube_drift_detected_total") == 0


def test_sync_event_in_gitkube_system(env: Env) -> None:
    def synced() -> list[dict[str, Any]]:
        items = get_json(env.kubectl, "-n", "gitkube-system", "events")["items"]
        return [e for e in items if e["reason"] == "Synced" and e["involvedObject"]["name"] == "gitkube-state"]

    [event] = wait_for(synced, timeout=15, what="the Synced event")
    assert event["type"] == "Normal" and event["source"]["component"] == "gitkube"
    table = env.kubectl.run("get", "events", "-n", "gitkube-system").stdout
    assert "Synced" in table and "SyncStarted" in table and "configmap/gitkube-state" in table


def test_notifications_delivered_with_retries(env: Env) -> None:
    sha = git(env.work, "rev-parse", "HEAD").stdout.strip()
    [doc] = wait_for(lambda: env.good.events("synced"), timeout=15, what="the synced notification")
    assert doc["commit"] == sha and doc["branch"] == "main" and doc["previous"] == ""
    assert doc["objects"]["counts"]["create"] == 3 and doc["trigger"]
    assert "topsecret-42" not in json.dumps(doc)
    # the flaky receiver answered 503 twice: it still gets the same document, by retries (2 s + 4 s)
    [again] = wait_for(lambda: env.flaky.events("synced"), timeout=30, what="the retried notification")
    assert again == doc and env.flaky.attempts == 3
    assert all(env.good.signatures_ok) and all(env.flaky.signatures_ok)


def test_drift_is_counted_and_notified(env: Env) -> None:
    env.kubectl.run("-n", NS, "scale", "deployment", "web", "--replicas=2")
    [doc] = wait_for(lambda: env.good.events("drift"), timeout=20, what="the drift notification")
    assert doc["kind"] == "Deployment" and doc["name"] == "web" and "spec.replicas" in doc["fields"]
    assert doc["selfHeal"] is True
    wait_for(lambda: total(env.metrics(), "gitkube_drift_detected_total", kind="Deployment") == 1, timeout=10,
             what="the drift counter")
    wait_for(lambda: get_json(env.kubectl, "-n", NS, "deploy", "web")["spec"]["replicas"] == 1, timeout=15,
             what="drift reverted")


def test_every_daemon_line_is_json(env: Env) -> None:
    lines = [line for line in env.daemon.log().splitlines() if line.strip()]
    assert len(lines) > 5
    docs = [json.loads(line) for line in lines]  # raises on the first line that is not JSON
    assert all({"time", "level", "logger", "message"} <= set(d) for d in docs)
    assert any(d["logger"] == "gitkube.console" and d["message"].startswith("gitkube API server:") for d in docs)
    assert any(d.get("outcome") == "Synced" for d in docs)  # the sync progress echo, with its fields
