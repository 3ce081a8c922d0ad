"""Carry out one plan: apply wave by wave, wait for each wave's health, prune last.

``run_plan`` is the single code path for every sync: the daemon's, ``gitkube apply``'s and a
rollback's. Before a wave is written, the keys it touches are added to the inventory through
``on_inventory`` (persisted by the caller), so a sync killed half-way still knows what it
created and a later sync can prune it. Objects of one wave are applied concurrently (bounded);
waves run one after the other; Services, whose endpoints come from later waves' workloads, are
checked for health at the end. Progress goes to a :class:`ProgressLog`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.health import Health
from gitkube.plan import Change, Plan
from gitkube.sync import applier
from gitkube.sync.progress import ProgressLog
from gitkube.sync.waiter import wait_healthy

__all__ = ["SyncResult", "run_plan"]

CONCURRENCY = 16
DEFERRED_KINDS = ("Service",)
DETAIL_LIMIT = 50  # per-object progress lines per wave; larger waves get one summary line


@dataclass
class SyncResult:
    ok: bool
    reason: str = ""
    applied: list[ObjectKey] = field(default_factory=list)
    pruned: list[ObjectKey] = field(default_factory=list)


async def _apply_wave(client: Client, wave: list[Change], progress: ProgressLog) -> list[ObjectKey]:
    todo = [c for c in wave if c.action in ("create", "update")]
    gate = asyncio.Semaphore(CONCURRENCY)
    detail = len(todo) <= DETAIL_LIMIT

    async def one(change: Change) -> None:
        assert change.desired is not None
        async with gate:
            await applier.apply(client, change.key, change.desired)
        if detail:
            verb = "created" if change.action == "create" else "configured"
            progress.emit("apply", f"{change.key} {verb}", object=str(change.key), action=change.action)

    await asyncio.gather(*(one(c) for c in todo))
    if not detail and todo:
        progress.emit("apply", f"{len(todo)} objects applied", count=len(todo))
    return [c.key for c in todo]


async def run_plan(client: Client, plan: Plan, progress: ProgressLog, *, timeout: float, wait: bool = True,
                   prune: bool = True, check_all: bool = False,
                   on_inventory: Callable[[set[ObjectKey]], Awaitable[None]] | None = None) -> SyncResult:
    deadline = time.monotonic() + timeout
    result = SyncResult(ok=True)
    # check_all: wait for the health of unchanged objects too (a sync redone after a crash, whose
    # writes may all have landed before it, must still see its objects healthy).
    waves = [w for w in plan.waves if check_all or any(c.action in ("create", "update") for c in w)]
    deferred: list[ObjectKey] = []

    reported = 0

    def seen(key: ObjectKey, health: Health) -> None:
        # One line per object and state change, up to a limit per sync: a wave of thousands
        # must not flood the pusher's terminal (the wave lines still say how it ends).
        nonlocal reported
        if health.status != "Healthy" and reported < DETAIL_LIMIT:
            reported += 1
            suffix = "" if reported < DETAIL_LIMIT else " (further health changes of this sync are not listed)"
            progress.emit("health", f"{key}: {health.status}: {health.message}{suffix}", object=str(key),
                          status=health.status)

    for number, wave in enumerate(waves, 1):
        keys = [c.key for c in wave if check_all or c.action in ("create", "update")]
        progress.emit("wave", f"wave {number}/{len(waves)}: {len(keys)} object(s)", wave=number, objects=len(keys))
        if on_inventory is not None:
            await on_inventory({c.key for c in wave if c.action in ("create", "update")})
        try:
            result.applied += await _apply_wave(client, wave, progress)
        except errors.SyncError as exc:
            return SyncResult(False, str(exc), result.applied)
        if not wait:
            continue
        # A Service is healthy once it has ready endpoints, which only the workloads of later
        # waves can give it: it is checked at the end of the sync, not before them.
        deferred += [k for k in keys if k.group == "" and k.kind in DEFERRED_KINDS]
        now = [k for k in keys if not (k.group == "" and k.kind in DEFERRED_KINDS)]
        if now:
            outcome = await wait_healthy(client, now, timeout=max(0.0, deadline - time.monotonic()), on_change=seen)
            if not outcome.ok:
                return SyncResult(False, outcome.reason, result.applied)
        progress.emit("health", f"wave {number}/{len(waves)} healthy", wave=number, status="Healthy")
    if deferred:
        outcome = await wait_healthy(client, deferred, timeout=max(0.0, deadline - time.monotonic()), on_change=seen)
        if not outcome.ok:
            return SyncResult(False, outcome.reason, result.applied)
        progress.emit("health", f"{len(deferred)} Service(s) have ready endpoints", status="Healthy")
    if prune:
        for change in plan.prune:
            try:
                if await applier.delete(client, change.key):
                    progress.emit("prune", f"{change.key} deleted", object=str(change.key))
                    result.pruned.append(change.key)
            except errors.SyncError as exc:
                return SyncResult(False, str(exc), result.applied, result.pruned)
    return result
