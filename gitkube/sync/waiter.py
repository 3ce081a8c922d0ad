"""Wait until the objects of one wave are healthy, or say why they are not.

Each object is read through the API with what its health check needs (a Deployment's
ReplicaSets and pods, a Service's Endpoints) and judged by ``gitkube.health``. The wait ends when
all are Healthy, at once when one is Degraded (a crash loop, ProgressDeadlineExceeded: waiting
longer cannot help), or at the deadline (``--rollout-timeout``). Polling a handful of objects a
few times a second is cheaper and simpler than a watch per kind, and cannot miss a state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube import errors
from gitkube.api import selectors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.health import Health, Related, assess, needs
from gitkube.sync.resources import read_one

__all__ = ["WaitResult", "check", "wait_healthy"]

Obj = dict[str, Any]
POLL = 0.25


@dataclass
class WaitResult:
    ok: bool
    health: dict[ObjectKey, Health]
    reason: str = ""


async def _related(client: Client, key: ObjectKey, obj: Obj) -> Related:
    wanted = needs(key)
    related = Related()
    if not wanted:
        return related
    ns = key.namespace or None
    selector = ""
    spec_selector = (obj.get("spec") or {}).get("selector")
    if isinstance(spec_selector, dict) and ("matchLabels" in spec_selector or "matchExpressions" in spec_selector):
        selector = str(selectors.from_label_selector_spec(spec_selector))
    elif isinstance(spec_selector, dict) and spec_selector:  # a Service's plain map
        selector = ",".join(f"{k}={v}" for k, v in sorted(spec_selector.items()))
    if "pods" in wanted and selector:
        related.pods = list((await client.list("pods", ns, label_selector=selector)).get("items") or [])
    if "replicasets" in wanted and selector:
        related.replicasets = list((await client.list("replicasets", ns, label_selector=selector)).get("items") or [])
    if "endpoints" in wanted:
        try:
            related.endpoints = await client.get("endpoints", key.name, ns)
        except errors.NotFound:
            related.endpoints = None
    return related


async def check(client: Client, key: ObjectKey) -> Health:
    obj = await read_one(client, key)
    if obj is None:
        return assess(None)
    return assess(obj, related=await _related(client, key, obj))


async def wait_healthy(client: Client, keys: list[ObjectKey], *, timeout: float,
                       on_change: Callable[[ObjectKey, Health], None] | None = None) -> WaitResult:
    deadline = time.monotonic() + timeout
    last: dict[ObjectKey, Health] = {}
    while True:
        results = await asyncio.gather(*(check(client, k) for k in keys))
        current = dict(zip(keys, results, strict=True))
        for key, health in current.items():
            if on_change is not None and last.get(key) != health:
                on_change(key, health)
        last = current
        degraded = [(k, h) for k, h in current.items() if h.status == "Degraded"]
        if degraded:
            return WaitResult(False, current, "; ".join(f"{k}: {h.message}" for k, h in degraded))
        waiting = [(k, h) for k, h in current.items() if h.status not in ("Healthy", "Suspended")]
        if not waiting:
            return WaitResult(True, current)
        if time.monotonic() >= deadline:
            detail = "; ".join(f"{k}: {h.status}: {h.message}" for k, h in waiting)
            return WaitResult(False, current, f"not healthy after {timeout:.0f}s: {detail}")
        await asyncio.sleep(POLL)
