"""``gitkube up --store etcd://...``: kubectl create/get/watch against a daemon whose store is a real
etcd, and a second daemon on the same etcd that sees (and streams) the first one's objects."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.testing.etcd import EtcdMember, etcd_binary, member_url
from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (apt-get install etcd-server)")]

ARGS = ["--no-local-node", "--service-cidr", "127.74.0.0/16"]


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdMember]:
    member = EtcdMember("e2e", tmp_path_factory.mktemp("etcd") / "data")
    member.start()
    yield member
    member.kill()


@pytest.fixture(scope="module")
def daemons(etcd: EtcdMember, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Daemon]]:
    url = member_url(etcd, "/e2e")
    first = start_daemon(tmp_path_factory.mktemp("one") / "data", extra_args=[*ARGS, "--store", url], timeout=60)
    try:
        second = start_daemon(tmp_path_factory.mktemp("two") / "data", extra_args=[*ARGS, "--store", url],
                              timeout=60)
    except BaseException:
        stop_daemon(first)
        raise
    yield first, second
    for d in (second, first):
        assert stop_daemon(d) == 0, d.log()


def kubectl_for(daemon: Daemon, tmp: Path) -> Kubectl:
    return Kubectl(daemon.kubeconfig, tmp, _kubectl_binary())


class Lines:
    """The lines a process prints, read by a thread (no select on a buffered pipe)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(line.strip())
        self.queue.put(None)

    def wait_for(self, wanted: list[str], deadline: float) -> None:
        """Read until every wanted line was seen; fail at ``deadline``."""
        while not all(w in self.seen for w in wanted):
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"watch events {wanted} not all seen in time; seen: {self.seen}")
            if line is None:
                pytest.fail(f"kubectl watch ended; seen: {self.seen}")
            self.seen.append(line)


def create(kubectl: Kubectl, kind: str, name: str, namespace: str = "", **extra: object) -> None:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    kubectl.run("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": kind, "metadata": meta, **extra}))


def test_kubectl_create_get_watch_across_two_daemons(daemons: tuple[Daemon, Daemon], tmp_path: Path) -> None:
    first, second = daemons
    one, two = kubectl_for(first, tmp_path / "c1"), kubectl_for(second, tmp_path / "c2")
    create(one, "Namespace", "shared")
    create(one, "ConfigMap", "from-one", "shared", data={"k": "v1"})
    got = json.loads(two.run("-n", "shared", "get", "configmap", "from-one", "-o", "json").stdout)
    assert got["data"] == {"k": "v1"}
    listed = json.loads(two.run("get", "namespaces", "-o", "json").stdout)
    assert "shared" in [n["metadata"]["name"] for n in listed["items"]]

    # a watch on the first daemon streams what the second one writes
    watch = one.popen("-n", "shared", "get", "configmaps", "--watch", "--output-watch-events", "-o",
                      "jsonpath={.type} {.object.metadata.name} {.object.data.k}{\"\\n\"}")
    try:
        lines = Lines(watch)
        deadline = time.monotonic() + 30
        lines.wait_for(["ADDED from-one v1"], deadline)
        create(two, "ConfigMap", "from-two", "shared", data={"k": "v2"})
        two.run("-n", "shared", "patch", "configmap", "from-one", "-p", '{"data":{"k":"v3"}}')
        two.run("-n", "shared", "delete", "configmap", "from-two")
        want = ["ADDED from-two v2", "MODIFIED from-one v3", "DELETED from-two v2"]
        lines.wait_for(want, deadline)
        positions = [lines.seen.index(w) for w in want]
        assert positions == sorted(positions), lines.seen
    finally:
        watch.kill()
        watch.wait()

    # one revision sequence: both daemons report the same resourceVersion for the object
    rv_one = one.run("-n", "shared", "get", "configmap", "from-one", "-o", "jsonpath={.metadata.resourceVersion}").stdout
    rv_two = two.run("-n", "shared", "get", "configmap", "from-one", "-o", "jsonpath={.metadata.resourceVersion}").stdout
    assert rv_one == rv_two and int(rv_one) > 0
    stale = two.run("-n", "shared", "replace", "-f", "-", check=False, input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "stale"},
        "metadata": {"name": "from-one", "namespace": "shared", "resourceVersion": str(int(rv_one) - 1)}}))
    assert stale.returncode != 0 and "the object has been modified" in stale.stderr
