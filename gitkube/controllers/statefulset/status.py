"""StatefulSet status arithmetic (``computeReplicaStatus``, ``completeRollingUpdate``). Pure.

``replicas`` counts created pods (status.phase set), ``readyReplicas`` the Running+Ready ones,
``availableReplicas`` those Ready for ``minReadySeconds``; ``currentReplicas`` and
``updatedReplicas`` count created, non-terminating pods by their ``controller-revision-hash``.
A RollingUpdate whose pods are all updated and ready is complete: ``currentRevision`` becomes
``updateRevision``. Zero counts are kept (Kubernetes' StatefulSetStatus has no ``omitempty``
on them) so ``kubectl rollout status`` reads them reliably.

Used by :mod:`gitkube.controllers.statefulset.controller`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gitkube.controllers.statefulset.identity import (
    is_created,
    is_running_and_available,
    is_running_and_ready,
    is_terminating,
    pod_revision,
)

__all__ = ["compute_status", "same_status"]

Obj = dict[str, Any]


def compute_status(sts: Obj, pods: list[Obj], current_revision: str, update_revision: str,
                   collision_count: int, now: dt.datetime | None = None) -> Obj:
    """The status of ``sts`` for its claimed pods (those just created included)."""
    spec = sts.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    replicas = ready = available = current = updated = 0
    for pod in pods:
        if is_created(pod):
            replicas += 1
        if is_running_and_ready(pod):
            ready += 1
            if is_running_and_available(pod, min_ready, now):
                available += 1
        if is_created(pod) and not is_terminating(pod):
            revision = pod_revision(pod)
            if revision == current_revision:
                current += 1
            if revision == update_revision:
                updated += 1
    status: Obj = {"observedGeneration": int(sts["metadata"].get("generation") or 0), "replicas": replicas,
                   "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
                   "availableReplicas": available, "currentRevision": current_revision,
                   "updateRevision": update_revision, "collisionCount": collision_count}
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and updated == replicas and ready == replicas:
        status["currentReplicas"] = updated
        status["currentRevision"] = update_revision
    conditions = (sts.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status


def same_status(a: Obj, b: Obj) -> bool:
    keys = set(a) | set(b)
    return all(a.get(k) == b.get(k) for k in keys)
