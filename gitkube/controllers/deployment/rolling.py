"""The RollingUpdate strategy (kubernetes ``rolling.go``).

One call takes one bounded step: create the new ReplicaSet if needed, then scale it up as
far as ``maxSurge`` allows; if it could not grow, scale old ReplicaSets down as far as
``maxUnavailable`` allows (unhealthy replicas first, then oldest ReplicaSets first);
once the rollout is complete, trim the history. Every branch ends by writing status.
Availability is what the ReplicaSets report (their controller applies ``minReadySeconds``).

Called by ``controller``.
"""

from __future__ import annotations

from gitkube.controllers.deployment import conditions as cond
from gitkube.controllers.deployment import progress, sync, util
from gitkube.controllers.deployment.sync import Env
from gitkube.controllers.deployment.util import Obj

__all__ = ["reconcile_new_rs", "reconcile_old_rss", "rollout_rolling"]


async def rollout_rolling(env: Env, d: Obj, rss: list[Obj]) -> None:
    new, olds = await sync.get_all_rss_and_sync_revision(env, d, rss, True)
    assert new is not None
    all_rss: list[Obj | None] = [*olds, new]
    if await reconcile_new_rs(env, [*olds, new], new, d):
        await progress.sync_rollout_status(env, all_rss, new, d)
        return
    if await reconcile_old_rss(env, [*olds, new], util.active(olds), new, d):
        await progress.sync_rollout_status(env, all_rss, new, d)
        return
    if cond.deployment_complete(d, d.get("status") or {}):
        await sync.cleanup(env, olds, d)
    await progress.sync_rollout_status(env, all_rss, new, d)


async def reconcile_new_rs(env: Env, all_rss: list[Obj], new: Obj, d: Obj) -> bool:
    """Scale the new ReplicaSet towards ``spec.replicas`` within the surge budget."""
    want, have = util.spec_replicas(d), util.spec_replicas(new)
    if have == want:
        return False
    if have > want:
        scaled, _ = await sync.scale_rs_and_record(env, new, want, d)
        return scaled
    scaled, _ = await sync.scale_rs_and_record(env, new, util.new_rs_new_replicas(d, all_rss, new), d)
    return scaled


async def reconcile_old_rss(env: Env, all_rss: list[Obj], olds: list[Obj], new: Obj, d: Obj) -> bool:
    """Scale old ReplicaSets down without going below ``spec.replicas - maxUnavailable``
    available pods (counting the new ReplicaSet's unavailable pods against the budget)."""
    if util.total_replicas(olds) == 0:
        return False
    min_available = util.spec_replicas(d) - util.max_unavailable(d)
    new_unavailable = util.spec_replicas(new) - int((new.get("status") or {}).get("availableReplicas") or 0)
    max_scaled_down = util.total_replicas(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    olds, cleaned = await _cleanup_unhealthy(env, olds, d, max_scaled_down)
    scaled = await _scale_down_olds(env, [*olds, new], olds, d)
    return cleaned + scaled > 0


async def _cleanup_unhealthy(env: Env, olds: list[Obj], d: Obj, max_cleanup: int) -> tuple[list[Obj], int]:
    """Old replicas that are not available can go first: removing them costs no availability."""
    olds = util.by_creation(olds)
    total = 0
    for i, rs in enumerate(olds):
        if total >= max_cleanup:
            break
        size = util.spec_replicas(rs)
        available = int((rs.get("status") or {}).get("availableReplicas") or 0)
        if size == 0 or size == available:
            continue
        count = min(max_cleanup - total, size - available)
        _, olds[i] = await sync.scale_rs_and_record(env, rs, size - count, d)
        total += count
    return olds, total


async def _scale_down_olds(env: Env, all_rss: list[Obj], olds: list[Obj], d: Obj) -> int:
    min_available = util.spec_replicas(d) - util.max_unavailable(d)
    available = util.available_replicas(all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in util.by_creation(olds):
        if total >= budget:
            break
        size = util.spec_replicas(rs)
        if size == 0:
            continue
        count = min(size, budget - total)
        await sync.scale_rs_and_record(env, rs, size - count, d)
        total += count
    return total
