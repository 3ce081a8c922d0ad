"""The ResourceQuota controller keeps status.hard/status.used current from the live objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitkube.client import Client
from gitkube.controllers.resourcequota import ResourceQuotaController
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "100m"}}}]}}


async def used(client: Client) -> dict[str, str]:
    rq = await client.get("resourcequotas", "q", "default")
    return dict((rq.get("status") or {}).get("used") or {})


async def test_used_follows_creates_deletions_and_terminal_pods(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("pods", pod("before"), "default")
        await client.create("resourcequotas", {
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
            "spec": {"hard": {"pods": "10", "requests.cpu": "2", "count/deployments.apps": "5"}}}, "default")
        async with running(ResourceQuotaController(client)):
            want = {"count/deployments.apps": "0", "pods": "1", "requests.cpu": "100m"}

            async def is_(expected: dict[str, str]) -> bool:
                return await used(client) == expected

            await eventually(lambda: is_(want))
            await client.create("pods", pod("two"), "default")
            await eventually(lambda: is_({**want, "pods": "2", "requests.cpu": "200m"}))
            await client.delete("pods", "before", "default", grace_period_seconds=0)
            await eventually(lambda: is_(want))
            live = await client.get("pods", "two", "default")
            live["status"] = {**live.get("status", {}), "phase": "Succeeded"}
            await client.update_status("pods", live)
            await eventually(lambda: is_({**want, "pods": "0", "requests.cpu": "0"}))
            rq = await client.get("resourcequotas", "q", "default")
            assert rq["status"]["hard"] == rq["spec"]["hard"]
