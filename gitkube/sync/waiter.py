"""Wait until the objects of one wave are healthy, or say why they are not.

Each round reads the objects still waited for through the API, with what their health checks
need (a Deployment's ReplicaSets and pods, a Service's Endpoints), and judges them with
``gitkube.health``. The wait ends when all are Healthy, at once when one is Degraded (a crash
loop, ProgressDeadlineExceeded: waiting longer cannot help), or at the deadline
(``--rollout-timeout``). Objects found Healthy leave the round, as ``kubectl rollout status``
stops watching a finished rollout.

Reads are batched so that a wave of thousands of objects costs a handful of requests per round:
one LIST per kind (a GET each when there are only a few), one LIST of pods, ReplicaSets and
Endpoints when many objects need them, and rounds further apart for large waves - the waiter
shares the API server with the controllers doing the rollout and must not starve them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube import errors
from gitkube.api import meta, selectors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.health import Health, Related, assess, needs
from gitkube.sync.resources import read_live, read_one

__all__ = ["WaitResult", "check", "check_many", "poll_interval", "wait_healthy"]

Obj = dict[str, Any]
POLL = 0.25
BULK = 8  # more objects than this needing related objects: list them once per round


@dataclass
class WaitResult:
    ok: bool
    health: dict[ObjectKey, Health]
    reason: str = ""


MAX_POLL = 10.0  # the longest pause between two polls, however expensive they are


def poll_interval(waiting: int) -> float:
    """0.25 s for a few objects, up to 2 s for thousands."""
    return min(2.0, POLL + waiting / 2000)


def _selector(obj: Obj) -> selectors.LabelSelector | None:
    spec_selector = (obj.get("spec") or {}).get("selector")
    if isinstance(spec_selector, dict) and ("matchLabels" in spec_selector or "matchExpressions" in spec_selector):
        return selectors.from_label_selector_spec(spec_selector)
    if isinstance(spec_selector, dict) and spec_selector:  # a Service's plain map
        return selectors.parse_label_selector(",".join(f"{k}={v}" for k, v in sorted(spec_selector.items())))
    return None


async def _related_one(client: Client, key: ObjectKey, obj: Obj) -> Related:
    wanted = needs(key)
    related = Related()
    ns = key.namespace or None
    selector = _selector(obj)
    text = str(selector) if selector is not None else ""
    if "pods" in wanted and text:
        related.pods = list((await client.list("pods", ns, label_selector=text)).get("items") or [])
    if "replicasets" in wanted and text:
        related.replicasets = list((await client.list("replicasets", ns, label_selector=text)).get("items") or [])
    if "endpoints" in wanted:
        try:
            related.endpoints = await client.get("endpoints", key.name, ns)
        except errors.NotFound:
            related.endpoints = None
    return related


class _Bulk:
    """Pods, ReplicaSets and Endpoints listed once, matched per object locally."""

    def __init__(self) -> None:
        self.pods: dict[str, list[Obj]] = defaultdict(list)
        self.replicasets: dict[str, list[Obj]] = defaultdict(list)
        self.endpoints: dict[tuple[str, str], Obj] = {}

    @classmethod
    async def load(cls, client: Client, wanted: set[str]) -> _Bulk:
        bulk = cls()
        for resource, index in (("pods", bulk.pods), ("replicasets", bulk.replicasets)):
            if resource in wanted:
                for item in (await client.list(resource)).get("items") or []:
                    index[str((item.get("metadata") or {}).get("namespace") or "")].append(item)
        if "endpoints" in wanted:
            for item in (await client.list("endpoints")).get("items") or []:
                meta = item.get("metadata") or {}
                bulk.endpoints[(str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = item
        return bulk

    def related(self, key: ObjectKey, obj: Obj) -> Related:
        wanted = needs(key)
        related = Related()
        selector = _selector(obj)
        if selector is not None and not selector.empty:
            if "pods" in wanted:
                related.pods = [p for p in self.pods.get(key.namespace, ()) if selector.matches_object(p)]
            if "replicasets" in wanted:
                related.replicasets = [r for r in self.replicasets.get(key.namespace, ())
                                       if selector.matches_object(r)]
        if "endpoints" in wanted:
            related.endpoints = self.endpoints.get((key.namespace, key.name))
        return related


async def check(client: Client, key: ObjectKey) -> Health:
    obj = await read_one(client, key)
    if obj is None:
        return assess(None)
    return assess(obj, related=await _related_one(client, key, obj))


async def check_many(client: Client, keys: list[ObjectKey], *, since: str | None = None) -> dict[ObjectKey, Health]:
    """The health of every key, with a bounded number of requests. Container terminations that
    finished before ``since`` (RFC 3339; default ten minutes ago, twice the longest
    CrashLoopBackOff delay, so an ongoing crash loop always has a termination in the window) do
    not make a crash loop."""
    if since is None:
        since = meta.format_time(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    live = await read_live(client, keys)
    needing = [k for k in keys if k in live and needs(k)]
    out: dict[ObjectKey, Health] = {}
    if len(needing) > BULK:
        wanted = set().union(*(needs(k) for k in needing))
        bulk = await _Bulk.load(client, wanted)
        for key in keys:
            obj = live.get(key)
            out[key] = assess(obj, related=_since(bulk.related(key, obj), since) if obj is not None else None)
        return out
    gate = asyncio.Semaphore(8)

    async def one(key: ObjectKey) -> None:
        obj = live.get(key)
        if obj is None:
            out[key] = assess(None)
            return
        async with gate:
            related = _since(await _related_one(client, key, obj), since) if needs(key) else None
        out[key] = assess(obj, related=related)

    await asyncio.gather(*(one(k) for k in keys))
    return out


def _since(related: Related, since: str) -> Related:
    related.since = since
    return related


async def wait_healthy(client: Client, keys: list[ObjectKey], *, timeout: float,
                       on_change: Callable[[ObjectKey, Health], None] | None = None,
                       since: str | None = None) -> WaitResult:
    """Poll until every key is healthy, one is Degraded, or ``timeout``. Restarts whose last
    termination is older than ``since`` (default: when the wait starts, less 5 s for clock skew
    between nodes) are history: they do not make a crash loop."""
    deadline = time.monotonic() + timeout
    if since is None:
        since = meta.format_time(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
    last: dict[ObjectKey, Health] = {}
    pending = list(keys)
    while True:
        started = time.monotonic()
        current = await check_many(client, pending, since=since)
        cost = time.monotonic() - started
        for key, health in current.items():
            if on_change is not None and last.get(key) != health:
                on_change(key, health)
        last.update(current)
        degraded = [(k, h) for k, h in current.items() if h.status == "Degraded"]
        if degraded:
            return WaitResult(False, last, "; ".join(f"{k}: {h.message}" for k, h in degraded))
        pending = [k for k in pending if current[k].status not in ("Healthy", "Suspended")]
        if not pending:
            return WaitResult(True, last)
        if time.monotonic() >= deadline:
            shown = pending[:10]
            detail = "; ".join(f"{k}: {last[k].status}: {last[k].message}" for k in shown)
            more = f" (and {len(pending) - len(shown)} more)" if len(pending) > len(shown) else ""
            return WaitResult(False, last, f"not healthy after {timeout:.0f}s: {detail}{more}")
        # Every poll LISTs the pending kinds and their pods and ReplicaSets; with thousands pending
        # that costs the daemon - which also runs the controllers the wait is for - most of a core.
        # Waiting four times as long as a poll took keeps the waiter under a fifth of it.
        await asyncio.sleep(min(MAX_POLL, max(poll_interval(len(pending)), 4 * cost)))
