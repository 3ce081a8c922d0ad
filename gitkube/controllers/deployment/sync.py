"""ReplicaSet bookkeeping shared by every Deployment strategy (kubernetes ``sync.go``).

- ``get_all_rss_and_sync_revision``: split the owned ReplicaSets into the new one (template
  equal ignoring the hash) and the old ones; sync the new one's annotations and revision
  (max old revision + 1), copy its revision to the deployment, and create it when asked.
- ``scale``: a scaling event (``spec.replicas`` changed, or a paused deployment): scale the
  only active ReplicaSet, or spread the difference proportionally over all of them during
  a rolling update.
- ``cleanup``: delete the oldest ReplicaSets beyond ``revisionHistoryLimit`` once they
  have no pods.
- ``sync`` / ``sync_status_only``: the paused, scaling and deleting branches.

Every write goes through ``Env.client``; deployment status through ``update_status``.
Called by ``controller``, ``rolling``, ``recreate`` and ``rollback``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube import errors
from gitkube.api import labels, meta
from gitkube.client import Client, EventRecorder, Informer
from gitkube.controllers.deployment import conditions as cond
from gitkube.controllers.deployment import util
from gitkube.controllers.deployment.util import Obj

__all__ = [
    "Env",
    "cleanup",
    "controller_ref",
    "get_all_rss_and_sync_revision",
    "is_scaling_event",
    "scale",
    "scale_rs",
    "scale_rs_and_record",
    "set_deployment_revision",
    "sync",
    "sync_status",
    "sync_status_only",
    "write_status",
]

DEPLOYMENTS = "deployments"
REPLICASETS = "replicasets"


@dataclass
class Env:
    """What the sync functions need from their controller."""

    client: Client
    events: EventRecorder
    replicasets: Informer
    pods: Informer
    clock: Callable[[], dt.datetime]
    requeue_after: Callable[[Obj, float], None]


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _ns(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace") or "default")


async def write_status(env: Env, d: Obj) -> None:
    """PUT the deployment's status; keep ``d`` current with the stored resourceVersion."""
    stored = await env.client.update_status(DEPLOYMENTS, d)
    d["metadata"] = stored["metadata"]


async def set_deployment_revision(env: Env, d: Obj, revision: str) -> None:
    """Copy the new ReplicaSet's revision to the deployment (a metadata-only patch guarded by
    the resourceVersion the controller read, so a concurrent spec change is never observed
    without being synced)."""
    anns = ((d.get("metadata") or {}).get("annotations")) or {}
    if anns.get(labels.ANNOTATION_REVISION) == revision:
        return
    patch = {"metadata": {"resourceVersion": d["metadata"].get("resourceVersion"),
                          "annotations": {labels.ANNOTATION_REVISION: revision}}}
    stored = await env.client.patch(DEPLOYMENTS, _name(d), patch, _ns(d))
    d["metadata"] = stored["metadata"]


def controller_ref(d: Obj) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": _name(d), "uid": d["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


async def get_all_rss_and_sync_revision(env: Env, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
    """The new ReplicaSet (None if missing and ``create`` is false) and the old ones. A write
    to the new ReplicaSet replaces its entry in ``rss``, so later steps of the same sync
    work on the stored object."""
    olds = util.find_old_rss(d, rss)
    new = await _get_new_rs(env, d, rss, olds, create)
    if new is not None:
        uid = new["metadata"].get("uid")
        for i, rs in enumerate(rss):
            if rs["metadata"].get("uid") == uid:
                rss[i] = new
    return new, olds


async def _get_new_rs(env: Env, d: Obj, rss: list[Obj], olds: list[Obj], create: bool) -> Obj | None:
    existing = util.find_new_rs(d, rss)
    new_revision = util.max_revision(olds) + 1
    if existing is not None:
        rs = copy.deepcopy(existing)
        changed = util.set_new_rs_annotations(d, rs, new_revision, exists=True)
        min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        if changed or int(rs["spec"].get("minReadySeconds") or 0) != min_ready:
            if min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
            else:
                rs["spec"].pop("minReadySeconds", None)
            return await env.client.update(REPLICASETS, rs)
        await set_deployment_revision(env, d, util.annotations_of(rs).get(labels.ANNOTATION_REVISION, ""))
        status = d.setdefault("status", {})
        if cond.has_progress_deadline(d) and cond.get_condition(status, cond.PROGRESSING) is None:
            cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "True", cond.FOUND_NEW_RS,
                                                          f'Found new replica set "{_name(rs)}"', env.clock()))
            await write_status(env, d)
        return rs
    if not create:
        return None
    return await _create_new_rs(env, d, olds, new_revision)


def _new_rs_object(d: Obj) -> Obj:
    spec = d.get("spec") or {}
    collision = (d.get("status") or {}).get("collisionCount")
    template = copy.deepcopy(spec.get("template") or {})
    rs_hash = util.template_hash(template, collision)
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), labels.LABEL_POD_TEMPLATE_HASH: rs_hash}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), labels.LABEL_POD_TEMPLATE_HASH: rs_hash}
    rs_spec: Obj = {"replicas": 0, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = int(spec["minReadySeconds"])
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{_name(d)}-{rs_hash}", "namespace": _ns(d), "labels": dict(template["metadata"]["labels"]),
                     "ownerReferences": [controller_ref(d)]},
        "spec": rs_spec,
    }


async def _create_new_rs(env: Env, d: Obj, olds: list[Obj], new_revision: int) -> Obj:
    rs = _new_rs_object(d)
    replicas = util.new_rs_new_replicas(d, [*olds, rs], rs)
    rs["spec"]["replicas"] = replicas
    util.set_new_rs_annotations(d, rs, new_revision, exists=False)
    status = d.setdefault("status", {})
    already_exists = False
    try:
        created = await env.client.create(REPLICASETS, rs, _ns(d))
    except errors.AlreadyExists:
        already_exists = True
        found = env.replicasets.get(_ns(d), _name(rs)) or await env.client.get(REPLICASETS, _name(rs), _ns(d))
        ref = meta.controller_ref(found)
        if not (ref and ref.get("uid") == d["metadata"]["uid"] and util.equal_ignore_hash(
                (d.get("spec") or {}).get("template"), (found.get("spec") or {}).get("template"))):
            # A hash collision: bump collisionCount so the next sync computes another name.
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            await write_status(env, d)
            raise
        created = found
    except errors.APIError as exc:
        if any(c.reason == "NamespaceTerminating" for c in exc.causes):
            raise
        message = f'Failed to create new replica set "{_name(rs)}": {exc.message}'
        if cond.has_progress_deadline(d):
            cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "False", cond.FAILED_RS_CREATE,
                                                          message, env.clock()))
            try:
                await write_status(env, d)
            except errors.APIError:
                pass
        env.events.record(d, "Warning", cond.FAILED_RS_CREATE, message)
        raise
    if not already_exists and replicas > 0:
        env.events.record(d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {_name(created)} from 0 to {replicas}")
    await set_deployment_revision(env, d, str(new_revision))
    if not already_exists and cond.has_progress_deadline(d):
        cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "True", cond.NEW_RS_CREATED,
                                                      f'Created new replica set "{_name(created)}"', env.clock()))
        await write_status(env, d)
    return created


# -- scaling -----------------------------------------------------------------------------


async def scale_rs(env: Env, rs: Obj, new_scale: int, d: Obj, operation: str) -> tuple[bool, Obj]:
    """Set ``rs``'s size and replica annotations; record ``ScalingReplicaSet`` when the size changed."""
    desired, maximum = util.spec_replicas(d), util.spec_replicas(d) + util.max_surge(d)
    old_scale = util.spec_replicas(rs)
    size_changes = old_scale != new_scale
    if not size_changes and not util.replicas_annotations_need_update(rs, desired, maximum):
        return False, rs
    updated = copy.deepcopy(rs)
    updated["spec"]["replicas"] = new_scale
    util.set_replicas_annotations(updated, desired, maximum)
    stored = await env.client.update(REPLICASETS, updated)
    if size_changes:
        env.events.record(d, "Normal", "ScalingReplicaSet",
                          f"Scaled {operation} replica set {_name(stored)} from {old_scale} to {new_scale}")
    return size_changes, stored


async def scale_rs_and_record(env: Env, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, Obj]:
    current = util.spec_replicas(rs)
    if current == new_scale:
        return False, rs
    return await scale_rs(env, rs, new_scale, d, "up" if current < new_scale else "down")


async def scale(env: Env, d: Obj, new: Obj | None, olds: list[Obj]) -> None:
    """Follow a change of ``spec.replicas`` without starting a rollout."""
    want = util.spec_replicas(d)
    only = util.find_active_or_latest(new, olds)
    if only is not None:
        if util.spec_replicas(only) != want:
            await scale_rs_and_record(env, only, want, d)
        return
    if util.is_saturated(d, new):
        for old in util.active(olds):
            await scale_rs_and_record(env, old, 0, d)
        return
    if not util.is_rolling(d):
        return
    all_rss = util.active([*olds, new])
    allowed = want + util.max_surge(d) if want > 0 else 0
    to_add = allowed - util.total_replicas(all_rss)
    operation = ""
    if to_add > 0:
        all_rss, operation = util.by_size_newer(all_rss), "up"
    elif to_add < 0:
        all_rss, operation = util.by_size_older(all_rss), "down"
    sizes: dict[str, int] = {}
    added = 0
    for rs in all_rss:
        if to_add != 0:
            share = util.replica_set_proportion(rs, d, to_add, added)
            sizes[_name(rs)] = util.spec_replicas(rs) + share
            added += share
        else:
            sizes[_name(rs)] = util.spec_replicas(rs)
    for i, rs in enumerate(all_rss):
        if i == 0 and to_add != 0:
            sizes[_name(rs)] = max(sizes[_name(rs)] + to_add - added, 0)
        await scale_rs(env, rs, sizes[_name(rs)], d, operation)


async def is_scaling_event(env: Env, d: Obj, rss: list[Obj]) -> bool:
    """Whether an active ReplicaSet was sized for another ``spec.replicas`` than the current one."""
    new, olds = await get_all_rss_and_sync_revision(env, d, rss, False)
    for rs in util.active([*olds, new]):
        desired = util.desired_replicas_annotation(rs)
        if desired is not None and desired != util.spec_replicas(d):
            return True
    return False


async def cleanup(env: Env, olds: list[Obj], d: Obj) -> None:
    """Delete the oldest ReplicaSets beyond ``revisionHistoryLimit`` that run no pods."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return
    alive = [rs for rs in olds if not rs["metadata"].get("deletionTimestamp")]
    excess = len(alive) - int(limit)
    if excess <= 0:
        return
    for rs in util.by_revision(alive)[:excess]:
        status = rs.get("status") or {}
        if (int(status.get("replicas") or 0) != 0 or util.spec_replicas(rs) != 0
                or int(rs["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0)):
            continue
        try:
            await env.client.delete(REPLICASETS, _name(rs), _ns(rs), uid=rs["metadata"].get("uid"))
        except errors.NotFound:
            pass


# -- status ------------------------------------------------------------------------------


async def sync_status(env: Env, all_rss: list[Obj | None], new: Obj | None, d: Obj) -> None:
    status = cond.calculate_status(all_rss, new, d, env.clock())
    if status == (d.get("status") or {}):
        return
    d["status"] = status
    await write_status(env, d)


async def sync_status_only(env: Env, d: Obj, rss: list[Obj]) -> None:
    """A deployment being deleted: only report status."""
    new, olds = await get_all_rss_and_sync_revision(env, d, rss, False)
    await sync_status(env, [*olds, new], new, d)


async def sync(env: Env, d: Obj, rss: list[Obj]) -> None:
    """The paused and scaling branches: resize, clean history when paused, report status."""
    new, olds = await get_all_rss_and_sync_revision(env, d, rss, False)
    await scale(env, d, new, olds)
    spec = d.get("spec") or {}
    if spec.get("paused") and not util.annotations_of(d).get("deprecated.deployment.rollback.to"):
        await cleanup(env, olds, d)
    await sync_status(env, [*olds, new], new, d)
