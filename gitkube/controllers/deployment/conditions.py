"""Deployment conditions and status arithmetic, as ``deployment/util`` and ``sync.go`` compute them.

Reasons are Kubernetes' own (``NewReplicaSetCreated``, ``FoundNewReplicaSet``,
``ReplicaSetUpdated``, ``NewReplicaSetAvailable``, ``ProgressDeadlineExceeded``,
``MinimumReplicasAvailable`` ...), because ``kubectl rollout status`` and ``kubectl describe``
look for them. ``calculate_status`` builds the status the controller writes from the
ReplicaSets' own status (their ReplicaSet controller counts ready and available pods);
status fields that are zero are left out, as the Go API omits them.

Pure; used by ``sync``, ``progress`` and the strategy modules.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from gitkube.api import meta
from gitkube.controllers.deployment import util
from gitkube.controllers.deployment.util import Obj

__all__ = [
    "AVAILABLE",
    "FAILED_RS_CREATE",
    "FOUND_NEW_RS",
    "MINIMUM_REPLICAS_AVAILABLE",
    "MINIMUM_REPLICAS_UNAVAILABLE",
    "NEW_RS_AVAILABLE",
    "NEW_RS_CREATED",
    "PAUSED",
    "PROGRESSING",
    "REPLICA_FAILURE",
    "RESUMED",
    "RS_UPDATED",
    "TIMED_OUT",
    "calculate_status",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "get_condition",
    "has_progress_deadline",
    "new_condition",
    "remove_condition",
    "set_condition",
]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
RS_UPDATED = "ReplicaSetUpdated"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

_MAX_INT32 = 2**31 - 1


def new_condition(cond_type: str, status: str, reason: str, message: str, now: dt.datetime) -> dict[str, str]:
    stamp = meta.format_time(now)
    return {"type": cond_type, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def get_condition(status: Obj | None, cond_type: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == cond_type:
            return dict(cond)
    return None


def set_condition(status: Obj, cond: dict[str, str]) -> None:
    """``SetDeploymentCondition``: no-op when status and reason are unchanged; keeps the
    transition time when only the reason changes; the new condition goes last."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Obj, cond_type: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != cond_type]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return value is not None and int(value) != _MAX_INT32


def _num(status: Obj, field: str) -> int:
    return int(status.get(field) or 0)


def _generation(d: Obj) -> int:
    return int((d.get("metadata") or {}).get("generation") or 0)


def deployment_complete(d: Obj, status: Obj) -> bool:
    """All replicas updated and available, and the latest spec observed."""
    want = util.spec_replicas(d)
    return (_num(status, "updatedReplicas") == want and _num(status, "replicas") == want
            and _num(status, "availableReplicas") == want and _num(status, "observedGeneration") >= _generation(d))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    """More updated/ready/available replicas, or fewer old ones, than the stored status."""
    old = d.get("status") or {}
    old_olds = _num(old, "replicas") - _num(old, "updatedReplicas")
    new_olds = _num(status, "replicas") - _num(status, "updatedReplicas")
    return (_num(status, "updatedReplicas") > _num(old, "updatedReplicas") or new_olds < old_olds
            or _num(status, "readyReplicas") > _num(old, "readyReplicas")
            or _num(status, "availableReplicas") > _num(old, "availableReplicas"))


def deployment_timed_out(d: Obj, status: Obj, now: dt.datetime) -> bool:
    """No progress reported for ``progressDeadlineSeconds`` since the Progressing condition's
    last update."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    stamp = cond.get("lastUpdateTime")
    if not stamp:
        return False
    deadline = meta.parse_time(str(stamp)) + dt.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"]))
    return deadline < now


def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj, now: dt.datetime) -> Obj:
    """The status the controller owes ``d`` given its ReplicaSets (``calculateStatus``)."""
    available = util.available_replicas(all_rss)
    unavailable = max(util.total_replicas(all_rss) - available, 0)
    old = d.get("status") or {}
    counts = {
        "observedGeneration": _generation(d),
        "replicas": util.status_replicas(all_rss),
        "updatedReplicas": util.status_replicas([new_rs]),
        "readyReplicas": util.ready_replicas(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= util.spec_replicas(d) - util.max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE,
                                             "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status
