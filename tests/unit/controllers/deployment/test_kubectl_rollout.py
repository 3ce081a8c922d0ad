"""The real kubectl's ``rollout status|history|undo`` against the running controller
(KUBECTL-COMPAT.md §3.9), with a stand-in ReplicaSet controller that reports every pod ready."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gitkube.apiserver import pki
from gitkube.client import Client
from gitkube.controllers.deployment import DeploymentController, util
from gitkube.testing import running_apiserver
from tests.unit.controllers.deployment.conftest import deployment

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


async def _fake_replicaset_controller(client: Client) -> None:
    while True:
        for rs in (await client.list("replicasets", "default"))["items"]:
            n = int(rs["spec"]["replicas"])
            want = {"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n, "availableReplicas": n,
                    "observedGeneration": rs["metadata"]["generation"]}
            if {k: v for k, v in (rs.get("status") or {}).items() if v} != {k: v for k, v in want.items() if v}:
                rs["status"] = want
                with contextlib.suppress(Exception):
                    await client.update_status("replicasets", rs)
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _cluster(tmp_path: Path) -> AsyncIterator[tuple[Client, Path]]:
    data = tmp_path / "data"
    async with running_apiserver(data) as (server, client):
        kubeconfig, _ = pki.write_kubeconfig(data, server.url, pki.ensure_credentials(data))
        ctrl = DeploymentController(client)
        tasks = [asyncio.create_task(ctrl.run()), asyncio.create_task(_fake_replicaset_controller(client))]
        try:
            yield client, kubeconfig
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t


async def _kubectl(kubeconfig: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig), "-n", "default", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_rollout_status_history_undo(tmp_path: Path) -> None:
    async with _cluster(tmp_path) as (client, kubeconfig):
        await client.create("deployments", deployment(replicas=3))
        code, out = await _kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=30s")
        assert code == 0 and 'deployment "web" successfully rolled out' in out, out

        code, out = await _kubectl(kubeconfig, "set", "image", "deployment/web", "main=python:3.12")
        assert code == 0, out
        code, out = await _kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=30s")
        assert code == 0 and 'deployment "web" successfully rolled out' in out, out

        code, out = await _kubectl(kubeconfig, "rollout", "history", "deployment/web")
        assert code == 0, out
        assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["1", "2"], out

        before = {rs["metadata"]["name"] for rs in (await client.list("replicasets", "default"))["items"]}
        code, out = await _kubectl(kubeconfig, "rollout", "undo", "deployment/web")
        assert code == 0 and "rolled back" in out, out
        code, out = await _kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=30s")
        assert code == 0 and 'deployment "web" successfully rolled out' in out, out

        rss = (await client.list("replicasets", "default"))["items"]
        assert {rs["metadata"]["name"] for rs in rss} == before  # the old RS came back, no third one
        by_rev = {util.revision(rs): rs for rs in rss}
        assert sorted(by_rev) == [2, 3]
        assert by_rev[3]["spec"]["template"]["spec"]["containers"][0]["image"] == "python:3.11"
        assert by_rev[3]["spec"]["replicas"] == 3 and by_rev[2]["spec"]["replicas"] == 0
        code, out = await _kubectl(kubeconfig, "rollout", "history", "deployment/web")
        assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["2", "3"], out

        code, out = await _kubectl(kubeconfig, "get", "deployment", "web", "-o", "json")
        d = json.loads(out)
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        await asyncio.sleep(0.2)  # events are written in the background
        code, out = await _kubectl(kubeconfig, "describe", "deployment", "web")
        assert code == 0, out
        new_rs = by_rev[3]["metadata"]["name"]
        assert f"NewReplicaSet:   {new_rs} (3/3 replicas created)" in out, out
        assert f"Scaled up replica set {new_rs} from 0 to 3" in out, out
        assert "MinimumReplicasAvailable" in out and "NewReplicaSetAvailable" in out, out
