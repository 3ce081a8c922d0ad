"""A DaemonSet's ControllerRevisions (after Kubernetes ``pkg/controller/daemon/update.go``):
the current one for its template, renumbered or created, and the pruning of old ones.

- :func:`construct_history` (``constructHistory``): among the revisions the DaemonSet
  controls, the ones whose ``data`` equal its template patch are current (duplicates are
  deleted, keeping the highest); the current one gets number ``max(old) + 1`` (this is what
  makes ``kubectl rollout undo`` show the restored revision as the newest). Without one, a
  snapshot ``<name>-<hash>`` is created, labelled with the template labels and
  ``controller-revision-hash``; a name taken by other data bumps ``status.collisionCount``
  and fails the sync so that it is retried with the new hash.
- :func:`cleanup_history` (``cleanupHistory``): deletes the oldest old revisions beyond
  ``spec.revisionHistoryLimit`` that no live pod still runs.

Called by :mod:`gitkube.controllers.daemonset.controller`; shares
:mod:`gitkube.controllers.history` with the StatefulSet controller.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from gitkube import errors
from gitkube.client import Client
from gitkube.controllers import history
from gitkube.controllers.history import CONTROLLER_REVISION_HASH

__all__ = ["cleanup_history", "construct_history", "current_hash"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def _collision_count(ds: Obj) -> int | None:
    value = (ds.get("status") or {}).get("collisionCount")
    return None if value is None else int(value)


def current_hash(ds: Obj) -> str:
    """``ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)``."""
    return history.hash_template((ds.get("spec") or {}).get("template"), _collision_count(ds))


def _matches(ds: Obj, revision: Obj) -> bool:
    return history.equal_revision({"data": history.template_patch(ds)}, {"data": revision.get("data")})


async def construct_history(client: Client, ds: Obj, revisions: list[Obj]) -> tuple[Obj, list[Obj]]:
    """The current revision (created or renumbered) and the old ones of ``ds``.

    ``revisions`` are those the DaemonSet controls (see ``history.owned_revisions``).
    """
    current: list[Obj] = []
    old: list[Obj] = []
    for rev in revisions:
        if CONTROLLER_REVISION_HASH not in (rev["metadata"].get("labels") or {}):
            fixed = copy.deepcopy(rev)
            fixed["metadata"].setdefault("labels", {})[CONTROLLER_REVISION_HASH] = fixed["metadata"]["name"]
            rev = await client.update(history.RESOURCE, fixed)
        (current if _matches(ds, rev) else old).append(rev)
    number = history.max_revision(old) + 1
    if not current:
        return await _snapshot(client, ds, number), old
    ordered = history.sort_revisions(current)
    keep = ordered[-1]
    for dup in ordered[:-1]:
        await history.delete_revision(client, dup)
    if int(keep.get("revision") or 0) < number:
        keep = await history.update_revision_number(client, keep, number)
    return keep, old


async def _snapshot(client: Client, ds: Obj, number: int) -> Obj:
    h = current_hash(ds)
    template_labels = (((ds.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    rev = history.new_revision(ds, "DaemonSet", template_labels, history.template_patch(ds), number, hash_=h)
    ns = ds["metadata"]["namespace"]
    try:
        return await client.create(history.RESOURCE, rev, ns)
    except errors.AlreadyExists:
        existing = await client.get(history.RESOURCE, rev["metadata"]["name"], ns)
        if _matches(ds, existing) and history.is_controlled_by(existing, ds):
            return existing
    # A hash collision: bump the collision count so that the next sync computes another name.
    fresh = await client.get("daemonsets", ds["metadata"]["name"], ns)
    if (fresh.get("status") or {}).get("collisionCount") != (ds.get("status") or {}).get("collisionCount"):
        raise errors.Conflict(f'daemonset "{ds["metadata"]["name"]}": stale collision count, retrying')
    status = fresh.setdefault("status", {})
    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
    await client.update_status("daemonsets", fresh)
    log.info("daemonset %s/%s: hash collision, collisionCount now %d", ns, ds["metadata"]["name"],
             status["collisionCount"])
    raise errors.AlreadyExists(f'controllerrevisions.apps "{rev["metadata"]["name"]}" already exists')


async def cleanup_history(client: Client, ds: Obj, old: list[Obj], pods: list[Obj]) -> int:
    """Delete the old revisions beyond ``revisionHistoryLimit`` that no live pod uses;
    returns how many were deleted."""
    limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
    excess = len(old) - limit
    if excess <= 0:
        return 0
    live = {(p["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) for p in pods
            if not p["metadata"].get("deletionTimestamp")}
    deleted = 0
    for rev in history.sort_revisions(old):
        if deleted >= excess:
            break
        if (rev["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) in live:
            continue
        await history.delete_revision(client, rev)
        deleted += 1
    return deleted
