"""DaemonSet health, as ``kubectl rollout status`` decides it.

Degraded when one of its pods crash loops or cannot start; Progressing until the controller has
observed the latest spec and every node that should run a pod runs an updated, available one
(``updatedNumberScheduled`` and ``numberAvailable`` reach ``desiredNumberScheduled``);
``OnDelete`` sets are Healthy once available. Pure.
"""

from __future__ import annotations

from typing import Any

from gitkube.health.model import DEGRADED, HEALTHY, PROGRESSING, Health, Related, get_int, name_of
from gitkube.health.pod import container_trouble

__all__ = ["assess_daemonset"]


def assess_daemonset(ds: dict[str, Any], related: Related) -> Health:
    name = name_of(ds)
    spec = ds.get("spec") or {}
    status = ds.get("status") or {}
    for pod in related.pods:
        trouble = container_trouble(pod, related.since)
        if trouble:
            return Health(DEGRADED, trouble)
    if get_int(status.get("observedGeneration")) < get_int((ds.get("metadata") or {}).get("generation")):
        return Health(PROGRESSING, f"waiting for daemonset {name} spec update to be observed")
    want = get_int(status.get("desiredNumberScheduled"))
    updated = get_int(status.get("updatedNumberScheduled"))
    available = get_int(status.get("numberAvailable"))
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if not on_delete and updated < want:
        return Health(PROGRESSING, f"daemonset {name}: {updated} of {want} updated pods are scheduled")
    if available < want:
        return Health(PROGRESSING, f"daemonset {name}: {available} of {want} pods are available")
    return Health(HEALTHY, f"daemonset {name} rolled out: {available} of {want} pods available")
