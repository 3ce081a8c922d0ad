"""Pod facts and predicates the workload controllers share, after kube-controller-manager's
``podutil`` and ``controller`` helpers: ready / active / available, when a pod became Ready,
the per-pod :class:`PodFacts` a ReplicaSet sync reads, the pod indexes by controller uid and
for orphans, and the order in which a controller deletes surplus pods (:func:`pods_to_delete`).

Pure functions over pod dicts. Used by the ReplicaSet controller (which re-exports them), the
Job, DaemonSet, StatefulSet and Endpoints controllers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

from gitkube.api import meta

__all__ = [
    "BY_CONTROLLER",
    "ORPHANS",
    "PodFacts",
    "controller_uid_index",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "next_available_in",
    "orphan_namespace_index",
    "pod_facts",
    "pods_to_delete",
    "ready_time",
]

Obj = dict[str, Any]

_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _ready_condition(pod: Obj) -> Obj | None:
    """The pod's Ready condition (the cached dict itself: read it, do not change it)."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond  # type: ignore[no-any-return]
    return None


BY_CONTROLLER = "controllerUID"
ORPHANS = "orphansByNamespace"


def controller_uid_index(obj: Obj) -> list[str]:
    """Index function: the uid of the object's controller, if any."""
    ref = meta.controller_ref(obj)
    return [str(ref.get("uid"))] if ref is not None and ref.get("uid") else []


def orphan_namespace_index(obj: Obj) -> list[str]:
    """Index function: the namespace of an object without a controller."""
    return [str((obj.get("metadata") or {}).get("namespace"))] if meta.controller_ref(obj) is None else []


def is_pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True (podutil.IsPodReady)."""
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_pod_active(pod: Obj) -> bool:
    """Not finished and not terminating (controller.IsPodActive)."""
    return (str((pod.get("status") or {}).get("phase")) not in ("Succeeded", "Failed")
            and not (pod.get("metadata") or {}).get("deletionTimestamp"))


def ready_time(pod: Obj) -> dt.datetime | None:
    """When the pod last became Ready, if it is."""
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True" or not cond.get("lastTransitionTime"):
        return None
    return meta.parse_time(str(cond["lastTransitionTime"]))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (podutil.IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_time(pod)
    now = now or dt.datetime.now(dt.UTC)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) < now


def next_available_in(pods: list[Obj], min_ready_seconds: int, now: dt.datetime | None = None) -> float | None:
    """Seconds until the next Ready-but-not-yet-available pod becomes available."""
    if min_ready_seconds <= 0:
        return None
    now = now or dt.datetime.now(dt.UTC)
    waits = [((since + dt.timedelta(seconds=min_ready_seconds)) - now).total_seconds()
             for p in pods if is_pod_ready(p) and (since := ready_time(p)) is not None
             and not is_pod_available(p, min_ready_seconds, now)]
    return max(min(waits), 0.0) + 1.0 if waits else None


class PodFacts(NamedTuple):
    """What a ReplicaSet's sync reads of one pod, computed once per pod version."""

    obj: Obj
    active: bool
    ready: bool
    ready_since: float | None  # POSIX time the pod became Ready, if it is
    labels: Mapping[str, str]
    controller_uid: str | None


def pod_facts(pod: Obj) -> PodFacts:
    """The :class:`PodFacts` of ``pod`` (uncached)."""
    cond = _ready_condition(pod)
    ready = cond is not None and cond.get("status") == "True"
    since = None
    if ready and cond is not None and cond.get("lastTransitionTime"):
        since = meta.parse_time(str(cond["lastTransitionTime"])).timestamp()
    ref = meta.controller_ref(pod)
    return PodFacts(pod, is_pod_active(pod), ready, since, meta.labels_of(pod),
                    str(ref.get("uid")) if ref is not None and ref.get("uid") else None)


def _is_assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _sort_key(pod: Obj, rank: int) -> tuple[Any, ...]:
    """Ascending = deleted first (controller.ActivePodsWithRanks without log-scale buckets)."""
    ready = is_pod_ready(pod)
    ready_since = ready_time(pod) if ready else None
    cost = 0
    try:
        cost = int(((pod.get("metadata") or {}).get("annotations") or {}).get(_DELETION_COST, "0"))
    except ValueError:
        pass
    restarts = max((int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or []),
                   default=0)
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    created_ts = meta.parse_time(created).timestamp() if created else float("inf")
    return (
        _is_assigned(pod),
        _PHASE_RANK.get(str((pod.get("status") or {}).get("phase")), 0),
        ready,
        cost,
        -rank,
        -(ready_since.timestamp() if ready_since else float("inf")),
        -restarts,
        -created_ts,
    )


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int) -> list[Obj]:
    """The ``count`` pods a ReplicaSet removes first: unscheduled, then Pending < Unknown <
    Running, not-ready, lower deletion cost, doubled up on a node with related pods, ready
    for a shorter time, more restarts, newer."""
    if count >= len(pods):
        return list(pods)
    per_node = Counter(str(p["spec"].get("nodeName")) for p in related if _is_assigned(p) and is_pod_active(p))
    ranked = sorted(pods, key=lambda p: _sort_key(p, per_node[str(p["spec"].get("nodeName"))] if _is_assigned(p) else 0))
    return ranked[:count]
