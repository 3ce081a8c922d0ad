"""Security suite fixtures: one real ``gitkube up`` with a local node, its tokens, and an HTTPS
helper that returns status, headers and body without raising on 4xx/5xx.

The daemon gets its own address ranges (Services 127.76.0.0/16, pods 127.112.0.0/14) and
a data dir of its own; container supervisors it leaves behind are reaped at the end.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import wait_for
from tests.e2e.test_workloads import reap_containers

NODE = "sec-node"
DAEMON_ARGS = ["--node-name", NODE, "--crashloop-backoff", "1s", "--rollout-timeout", "60s",
               "--service-cidr", "127.76.0.0/16", "--cluster-cidr", "127.112.0.0/14"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Sec:
    daemon: Daemon
    kubectl: Kubectl
    admin_token: str
    readonly_token: str

    @property
    def data(self) -> Path:
        return self.daemon.data_dir

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.data / "pki" / "ca.crt"))

    def request(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
                content_type: str = "application/json", headers: dict[str, str] | None = None,
                timeout: float = 30) -> Reply:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if body is not None:
            h.setdefault("Content-Type", content_type)
        req = urllib.request.Request(self.daemon.url + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read())


def token_of(kubeconfig: Path) -> str:
    doc = yaml.safe_load(kubeconfig.read_text())
    return str(doc["users"][0]["user"]["token"])


@pytest.fixture(scope="session")
def sec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sec]:
    data = tmp_path_factory.mktemp("security") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    try:
        wait_for(lambda: "Ready" in k.run("get", "node", NODE, check=False).stdout.split(), timeout=30,
                 what=f"{NODE} Ready")
        yield Sec(d, k, token_of(d.kubeconfig), token_of(d.readonly_kubeconfig))
    finally:
        stop_daemon(d)
        reap_containers(data)
