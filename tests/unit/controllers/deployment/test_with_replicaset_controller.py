"""The Deployment and ReplicaSet controllers together, pods made Ready by a stand-in kubelet:
a rolling update never drops below ``replicas - maxUnavailable`` ready pods."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from gitkube.api import meta
from gitkube.client import Client
from gitkube.controllers.deployment import DeploymentController
from gitkube.controllers.replicaset import ReplicaSetController
from gitkube.testing import running_apiserver
from tests.unit.controllers.deployment.conftest import deployment, rollout_status


async def _kubelet(client: Client) -> None:
    """Every new pod becomes Running and Ready shortly after it appears."""
    while True:
        for pod in (await client.list("pods", "default"))["items"]:
            if pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get("phase") == "Running":
                continue
            pod["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": meta.now()}]}
            with contextlib.suppress(Exception):
                await client.update_status("pods", pod)
        await asyncio.sleep(0.1)


def _ready(pods: list[dict], image: str | None = None) -> int:
    return sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
               and any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])
               and (image is None or p["spec"]["containers"][0]["image"] == image))


async def _wait_rolled_out(client: Client, min_ready: int, max_pods: int, timeout: float = 20.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        pods = (await client.list("pods", "default"))["items"]
        alive = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert len(alive) <= max_pods, [p["metadata"]["name"] for p in alive]
        d = await client.get("deployments", "web", "default")
        if d.get("status", {}).get("availableReplicas"):
            assert _ready(pods) >= min_ready
        if rollout_status(d)[0]:
            return d
        await asyncio.sleep(0.02)
    raise AssertionError(f"not rolled out: {rollout_status(await client.get('deployments', 'web', 'default'))}")


async def test_rolling_update_with_real_replicasets_and_pods(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path) as (_server, client):
        controllers = [DeploymentController(client), ReplicaSetController(client)]
        tasks = [asyncio.create_task(c.run()) for c in controllers] + [asyncio.create_task(_kubelet(client))]
        try:
            await client.create("deployments", deployment(
                replicas=3, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
            await _wait_rolled_out(client, min_ready=0, max_pods=4)
            pods = (await client.list("pods", "default"))["items"]
            assert _ready(pods, "python:3.11") == 3

            await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "main", "image": "python:3.12", "command": ["python", "-m", "http.server"]}]}}}}, "default")
            d = await _wait_rolled_out(client, min_ready=3, max_pods=4)
            assert d["status"]["updatedReplicas"] == 3
            for _ in range(100):
                pods = (await client.list("pods", "default"))["items"]
                if len(pods) == 3:
                    break
                await asyncio.sleep(0.02)
            assert [p["spec"]["containers"][0]["image"] for p in pods] == ["python:3.12"] * 3
            assert all(p["metadata"]["labels"]["pod-template-hash"] in p["metadata"]["name"] for p in pods)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
