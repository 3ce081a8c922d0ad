"""Health of live objects: is this object where the sync wants it, still getting there, or stuck?

``assess(obj, related=...)`` gives a :class:`Health` (Healthy, Progressing, Degraded, Missing,
Suspended) with a message; ``needs(key)`` says which related objects ``assess`` wants for a
kind (``"pods"``, ``"replicasets"``, ``"endpoints"``) so the caller reads only those. One module
per kind decides as ``kubectl rollout status`` and Argo CD do; a kind without a module is Healthy
once it exists, and any object being deleted is Progressing.

Pure: no I/O. Callers: the sync engine (waits for each wave's health, decides rollbacks) and
``gitkube status``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.health.daemonset import assess_daemonset
from gitkube.health.deployment import assess_deployment
from gitkube.health.hpa import assess_hpa
from gitkube.health.job import assess_cronjob, assess_job
from gitkube.health.model import (
    DEGRADED,
    HEALTHY,
    MISSING,
    PROGRESSING,
    STATUSES,
    SUSPENDED,
    Health,
    Related,
    name_of,
)
from gitkube.health.pod import assess_pod
from gitkube.health.replicaset import assess_replicaset
from gitkube.health.service import assess_service
from gitkube.health.statefulset import assess_statefulset
from gitkube.health.storage import assess_pvc

__all__ = [
    "DEGRADED",
    "HEALTHY",
    "MISSING",
    "PROGRESSING",
    "STATUSES",
    "SUSPENDED",
    "Health",
    "Related",
    "assess",
    "needs",
]

Assessor = Callable[[dict[str, Any], Related], Health]

_ASSESSORS: dict[tuple[str, str], Assessor] = {
    ("apps", "Deployment"): assess_deployment,
    ("apps", "StatefulSet"): assess_statefulset,
    ("apps", "DaemonSet"): assess_daemonset,
    ("apps", "ReplicaSet"): assess_replicaset,
    ("", "Pod"): lambda obj, _: assess_pod(obj),
    ("batch", "Job"): lambda obj, _: assess_job(obj),
    ("batch", "CronJob"): lambda obj, _: assess_cronjob(obj),
    ("", "Service"): assess_service,
    ("", "PersistentVolumeClaim"): lambda obj, _: assess_pvc(obj),
    ("autoscaling", "HorizontalPodAutoscaler"): lambda obj, _: assess_hpa(obj),
}

_NEEDS: dict[tuple[str, str], frozenset[str]] = {
    ("apps", "Deployment"): frozenset({"pods", "replicasets"}),
    ("apps", "StatefulSet"): frozenset({"pods"}),
    ("apps", "DaemonSet"): frozenset({"pods"}),
    ("apps", "ReplicaSet"): frozenset({"pods"}),
    ("", "Service"): frozenset({"endpoints"}),
}


def needs(kind_key: ObjectKey) -> set[str]:
    """Which related objects :func:`assess` wants for this object's kind: the pods its selector
    matches, the ReplicaSets it owns, the Endpoints of the same name."""
    return set(_NEEDS.get((kind_key.group, kind_key.kind), ()))


def assess(obj: dict[str, Any] | None, *, related: Related | None = None) -> Health:
    """The health of one live object (None: it does not exist)."""
    if obj is None:
        return Health(MISSING, "the object does not exist")
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind") or "")
    if meta.get("deletionTimestamp"):
        return Health(PROGRESSING, f"{kind.lower()} {name_of(obj)} is being deleted")
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]
    assessor = _ASSESSORS.get((group, kind))
    if assessor is None:
        return Health(HEALTHY, f"{kind.lower()} {name_of(obj)} exists")
    return assessor(obj, related or Related())
