"""ReplicaSet health: Degraded on a ``ReplicaFailure`` condition or a failing pod, Progressing
until the controller observed the spec and every replica is available, then Healthy. Pure."""

from __future__ import annotations

from typing import Any

from gitkube.health.model import DEGRADED, HEALTHY, PROGRESSING, Health, Related, condition, get_int, name_of
from gitkube.health.pod import container_trouble

__all__ = ["assess_replicaset"]


def assess_replicaset(rs: dict[str, Any], related: Related) -> Health:
    name = name_of(rs)
    status = rs.get("status") or {}
    failure = condition(rs, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return Health(DEGRADED, f"replicaset {name}: {failure.get('message') or failure.get('reason')}")
    for pod in related.pods:
        trouble = container_trouble(pod, related.since)
        if trouble:
            return Health(DEGRADED, trouble)
    if get_int(status.get("observedGeneration")) < get_int((rs.get("metadata") or {}).get("generation")):
        return Health(PROGRESSING, f"waiting for replicaset {name} spec update to be observed")
    want = get_int((rs.get("spec") or {}).get("replicas"), 1)
    available = get_int(status.get("availableReplicas"))
    if available < want:
        return Health(PROGRESSING, f"replicaset {name}: {available} of {want} replicas are available")
    return Health(HEALTHY, f"replicaset {name}: {available} of {want} replicas available")
