"""A full disk under the data dir: the daemon's data dir is a 64 MiB tmpfs, filled with a file
while the daemon runs. Writes (the API, kubectl, a git push) must fail fast with a message that
names the problem, reads keep working, the daemon does not crash; once the file is deleted it
works again without a restart, and after a restart ``state.db`` passes ``PRAGMA integrity_check``
with every object written before still there.

Needs ``mount -t tmpfs`` (root, or a container that allows it): skipped with the reason otherwise.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import stop_daemon
from tests.fault.conftest import (
    NS,
    Cluster,
    configmap,
    namespace_doc,
    running_cluster,
    wait_for,
    web_deployment,
)

pytestmark = pytest.mark.e2e

SIZE = "64m"


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("diskfull")
    mount = base / "data"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the data dir here: {proc.stderr.strip() or proc.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture(scope="module")
def disk_cluster(small_disk: Path) -> Iterator[Cluster]:
    base = small_disk.parent
    with running_cluster(small_disk, base / "work", base / "kc") as c:
        yield c


def fill(path: Path) -> int:
    """Write ``path`` until the filesystem is full; bytes written."""
    written = 0
    with path.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += f.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


def create_configmap(c: Cluster, name: str) -> tuple[int, str, float]:
    start = time.monotonic()
    reply = c.request("POST", f"/api/v1/namespaces/{NS}/configmaps", configmap(name, {"k": name}), timeout=30)
    return reply.status, reply.body.decode(errors="replace"), time.monotonic() - start


def test_full_disk_clear_errors_no_corruption(disk_cluster: Cluster) -> None:
    c = disk_cluster
    c.write("fault/namespace.yaml", namespace_doc())
    c.write("fault/web.yaml", web_deployment("v1", replicas=1))
    c.write("fault/settings.yaml", configmap("settings", {"color": "blue"}))
    first = c.commit("before the disk fills")
    out = c.push().stderr
    assert f"Synced {first[:12]}" in out, out
    assert create_configmap(c, "before-full")[0] == 201
    pod = c.live_pods()[0]
    pid = c.pids(pod)["pid"]

    filler = c.data / "filler"
    filled = fill(filler)
    assert filled > 0
    try:
        # an API write: a clear error, fast, naming the disk
        status, body, took = create_configmap(c, "during-full")
        assert status in (500, 507), (status, body)
        assert "full" in body.lower() or "space" in body.lower(), body
        assert took < 10, f"the write took {took:.1f}s to fail"
        print(f"\nfull disk: API write -> {status} in {took * 1000:.0f} ms: {json.loads(body).get('message')}")
        # kubectl shows the same message
        kc = c.kubectl.run("-n", NS, "apply", "-f", "-", input=json.dumps(configmap("kubectl-full", {"k": "v"})),
                            check=False)
        assert kc.returncode != 0 and ("full" in kc.stderr.lower() or "space" in kc.stderr.lower()), kc.stderr
        # a push is refused by git itself, the branch does not move
        c.write("fault/settings.yaml", configmap("settings", {"color": "green"}))
        second = c.commit("while the disk is full")
        push = c.push(check=False)
        assert push.returncode != 0, push.stderr
        print("full disk: git push ->", " | ".join(push.stderr.strip().splitlines()[-3:]))
        assert c.hosted_head() == first
        # the daemon is alive, reads work, the pod still runs
        assert c.daemon.proc.poll() is None, c.daemon.log()[-3000:]
        assert c.get(f"/api/v1/namespaces/{NS}/configmaps/before-full")["data"] == {"k": "before-full"}
        assert c.pids(c.live_pods()[0])["pid"] == pid
    finally:
        filler.unlink()

    # space is back: writes work again without a restart
    wait_for(lambda: create_configmap(c, "after-full")[0] == 201, timeout=30, what="an API write after the disk freed")
    out = c.push().stderr
    assert f"Synced {second[:12]}" in out, out
    assert c.get(f"/api/v1/namespaces/{NS}/configmaps/settings")["data"] == {"color": "green"}
    assert c.daemon.proc.poll() is None

    # and after a restart the database is intact with everything written before
    assert stop_daemon(c.daemon) == 0, c.daemon.log()[-3000:]
    with sqlite3.connect(c.data / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    c.restart()
    for name in ("before-full", "after-full"):
        assert c.get(f"/api/v1/namespaces/{NS}/configmaps/{name}")["data"] == {"k": name}
    assert c.request("GET", f"/api/v1/namespaces/{NS}/configmaps/during-full").status == 404
    assert c.status()["commit"] == second
    # a graceful stop stops the pods; the restarted daemon brings the Deployment back
    wait_for(lambda: (c.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web").get("status") or {})
             .get("readyReplicas") == 1, timeout=60, what="the Deployment ready again after the restart")
