"""A harness for Deployment controller tests: a real API server, the controller's informers
running, ``sync`` called step by step, and a fake ReplicaSet controller that reports pods
as the test decides (``tick``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.api import meta
from gitkube.client import Client, key_of
from gitkube.controllers.deployment import DeploymentController
from gitkube.testing import running_apiserver

Obj = dict[str, Any]


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def deployment(name: str = "web", replicas: int = 3, image: str = "python:3.11", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name},
                     "annotations": {"kubernetes.io/change-cause": "initial"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "main", "image": image,
                                                  "command": ["python", "-m", "http.server"]}]}},
            **spec,
        },
    }


def rollout_status(d: Obj) -> tuple[bool, str]:
    """kubectl's ``DeploymentStatusViewer`` (KUBECTL-COMPAT.md §3.9): (done, message); raises
    on ProgressDeadlineExceeded."""
    name = d["metadata"]["name"]
    st = d.get("status") or {}
    if int(d["metadata"].get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return False, "Waiting for deployment spec update to be observed..."
    for c in st.get("conditions") or []:
        if c["type"] == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            raise RuntimeError(f'deployment "{name}" exceeded its progress deadline')
    want = int(d["spec"].get("replicas", 1))
    updated, total, available = (int(st.get(k) or 0) for k in ("updatedReplicas", "replicas", "availableReplicas"))
    if updated < want:
        return False, f"{updated} out of {want} new replicas have been updated..."
    if total > updated:
        return False, f"{total - updated} old replicas are pending termination..."
    if available < updated:
        return False, f"{available} of {updated} updated replicas are available..."
    return True, f'deployment "{name}" successfully rolled out'


class Harness:
    def __init__(self, client: Client, ctrl: DeploymentController, clock: FakeClock) -> None:
        self.client = client
        self.ctrl = ctrl
        self.clock = clock

    async def settle(self) -> None:
        """Wait until every informer cache holds what the API server holds."""
        for inf in (self.ctrl.deployments, self.ctrl.replicasets, self.ctrl.pods):
            for _ in range(400):
                body = await self.client.list(inf.resource)
                want = {key_of(o): o["metadata"]["resourceVersion"] for o in body["items"]}
                have = {key_of(o): o["metadata"]["resourceVersion"] for o in inf.list()}
                if want == have:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError(f"informer {inf.resource} did not catch up")

    async def step(self, name: str = "web") -> None:
        await self.settle()
        await self.ctrl.sync(f"default/{name}")
        await self.settle()

    async def get(self, name: str = "web") -> Obj:
        return await self.client.get("deployments", name, "default")

    async def rss(self, name: str = "web") -> list[Obj]:
        d = await self.get(name)
        items = (await self.client.list("replicasets", "default"))["items"]
        owned = [rs for rs in items if (meta.controller_ref(rs) or {}).get("uid") == d["metadata"]["uid"]]
        return sorted(owned, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(
            "deployment.kubernetes.io/revision", "0")))

    async def tick(self, available: dict[str, int] | None = None, name: str = "web") -> None:
        """The fake ReplicaSet controller: every ReplicaSet reports spec.replicas pods, all
        ready and available unless ``available`` says otherwise for an RS name."""
        for rs in await self.rss(name):
            n = int(rs["spec"]["replicas"])
            avail = n if available is None or rs["metadata"]["name"] not in available else available[rs["metadata"]["name"]]
            rs["status"] = {"replicas": n, "readyReplicas": avail, "availableReplicas": avail,
                            "fullyLabeledReplicas": n, "observedGeneration": rs["metadata"]["generation"]}
            await self.client.update_status("replicasets", rs)
        await self.settle()

    async def events(self) -> list[str]:
        await self.ctrl.events.flush()
        items = (await self.client.list("events", "default"))["items"]
        return [f'{e["reason"]}: {e["message"]}' for e in sorted(items, key=lambda e: e["metadata"]["resourceVersion"])]

    async def converge(self, name: str = "web", limit: int = 40) -> Obj:
        """Step and tick until ``kubectl rollout status`` would say done."""
        for _ in range(limit):
            await self.step(name)
            await self.tick(name=name)
            await self.step(name)
            d = await self.get(name)
            if rollout_status(d)[0]:
                return d
        raise AssertionError(f"rollout did not finish: {rollout_status(await self.get(name))}")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_apiserver(tmp_path) as (_server, client):
        clock = FakeClock()
        ctrl = DeploymentController(client, clock=clock)
        tasks = [asyncio.create_task(inf.run()) for inf in (ctrl.deployments, ctrl.replicasets, ctrl.pods)]
        try:
            await asyncio.gather(*(inf.synced.wait() for inf in (ctrl.deployments, ctrl.replicasets, ctrl.pods)))
            yield Harness(client, ctrl, clock)
            await ctrl.events.flush()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
