"""The scheduler against a real API server: binding, spreading, unschedulable pods."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from gitkube.client import Client
from gitkube.scheduler import Scheduler
from gitkube.testing import running_apiserver

from .builders import node, pod

NOT_READY = [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
             {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]


def _strip(p: dict[str, Any]) -> dict[str, Any]:
    p["metadata"].pop("uid", None)
    return p


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last: {result!r})")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def scheduling(client: Client, **kwargs: Any) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(client, seed=1, **kwargs)
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(asyncio.gather(scheduler.pods.synced.wait(), scheduler.nodes.synced.wait()), 10)
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_pods_are_bound_and_spread(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        for i in range(3):
            await client.create("nodes", node(f"node-{i}", cpu="4", memory="8Gi"))
        rs = await client.create("replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}, "default")
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
                 "controller": True}
        async with scheduling(client) as scheduler:
            for i in range(6):
                p = _strip(pod(f"web-{i}"))  # no requests: only spreading tells the nodes apart
                p["metadata"]["labels"] = {"app": "web"}
                p["metadata"]["ownerReferences"] = [owner]
                await client.create("pods", p, "default")
            other = _strip(pod("other", cpu="500m"))
            other["spec"]["schedulerName"] = "someone-else"
            await client.create("pods", other, "default")

            async def all_bound() -> list[dict[str, Any]] | None:
                items = (await client.list("pods", "default", label_selector="app=web"))["items"]
                return items if all(p["spec"].get("nodeName") for p in items) else None

            items = await eventually(all_bound)
            assert Counter(p["spec"]["nodeName"] for p in items) == {"node-0": 2, "node-1": 2, "node-2": 2}
            for p in items:
                scheduled = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
                assert scheduled["status"] == "True"
            await scheduler.wait_idle()
            events = (await client.list("events", "default", field_selector="reason=Scheduled"))["items"]
            messages = {e["message"] for e in events}
            assert {f"Successfully assigned default/{p['metadata']['name']} to {p['spec']['nodeName']}"
                    for p in items} == messages
            assert {e["source"]["component"] for e in events} == {"default-scheduler"}
            assert (await client.get("pods", "other", "default"))["spec"].get("nodeName") is None


async def test_unschedulable_pod_gets_kubernetes_reason_and_is_retried(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        await client.create("nodes", node("node-0", cpu="4", taints=NOT_READY))
        await client.create("nodes", node("node-1", cpu="1"))
        await client.create("nodes", node("node-2", cpu="1"))
        async with scheduling(client, backoff_base=30.0) as scheduler:
            await client.create("pods", _strip(pod("big", cpu="2")), "default")
            message = ("0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
                       "2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")

            async def condition() -> dict[str, Any] | None:
                p = await client.get("pods", "big", "default")
                return next((c for c in (p.get("status") or {}).get("conditions") or []
                             if c["type"] == "PodScheduled"), None)

            cond = await eventually(condition)
            assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", message)
            await scheduler.wait_idle()
            events = (await client.list("events", "default"))["items"]
            failed = [e for e in events if e["reason"] == "FailedScheduling"]
            assert [(e["type"], e["message"], e["involvedObject"]["name"], e["involvedObject"]["kind"])
                    for e in failed] == [("Warning", message, "big", "Pod")]

            # the backoff is 30 s: only the new node can bring the pod back this soon
            await client.create("nodes", node("node-3", cpu="2"))

            async def bound() -> Any:
                return (await client.get("pods", "big", "default"))["spec"].get("nodeName")

            assert await eventually(bound, timeout=5) == "node-3"
            cond = await condition()
            assert cond is not None and cond["status"] == "True"


async def test_resources_taken_by_assumed_pods_and_no_nodes(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        async with scheduling(client, backoff_base=30.0) as scheduler:
            await client.create("pods", _strip(pod("early", cpu="1")), "default")

            async def no_nodes() -> str | None:
                p = await client.get("pods", "early", "default")
                conds = (p.get("status") or {}).get("conditions") or []
                return next((c["message"] for c in conds if c["type"] == "PodScheduled"), None)

            assert await eventually(no_nodes) == "no nodes available to schedule pods"
            await client.create("nodes", node("only", cpu="2", pods="3"))
            await asyncio.gather(*(client.create("pods", _strip(pod(f"p{i}", cpu="500m")), "default")
                                   for i in range(3)))

            async def settled() -> list[dict[str, Any]] | None:
                items = (await client.list("pods", "default"))["items"]
                unbound = [p for p in items if not p["spec"].get("nodeName")]
                reasons = [c.get("message", "") for p in unbound for c in (p.get("status") or {}).get("conditions") or []
                           if c["type"] == "PodScheduled" and "Too many pods" in c.get("message", "")]
                return items if len(unbound) == 1 and reasons else None

            items = await eventually(settled)
            assert sum(1 for p in items if p["spec"].get("nodeName") == "only") == 3
            await scheduler.wait_idle()
            assert scheduler.cache.nodes["only"].requested.milli_cpu in (1500, 2000)
