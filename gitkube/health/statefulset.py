"""StatefulSet health, as ``kubectl rollout status`` decides it.

Degraded when one of its pods crash loops or cannot start; Progressing until the controller has
observed the latest spec, every replica is ready, and a rolling update has brought the pods
above the partition to the update revision (all of them, ``currentRevision == updateRevision``,
when there is no partition); ``OnDelete`` sets are Healthy once ready. Pure.
"""

from __future__ import annotations

from typing import Any

from gitkube.health.model import DEGRADED, HEALTHY, PROGRESSING, Health, Related, get_int, name_of
from gitkube.health.pod import container_trouble

__all__ = ["assess_statefulset"]


def assess_statefulset(sts: dict[str, Any], related: Related) -> Health:
    name = name_of(sts)
    spec = sts.get("spec") or {}
    status = sts.get("status") or {}
    for pod in related.pods:
        trouble = container_trouble(pod, related.since)
        if trouble:
            return Health(DEGRADED, trouble)
    if get_int(status.get("observedGeneration")) < get_int((sts.get("metadata") or {}).get("generation")):
        return Health(PROGRESSING, f"waiting for statefulset {name} spec update to be observed")
    want = get_int(spec.get("replicas"), 1)
    ready = get_int(status.get("readyReplicas"))
    if ready < want:
        return Health(PROGRESSING, f"statefulset {name}: {ready} of {want} pods are ready")
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return Health(HEALTHY, f"statefulset {name}: {ready} of {want} pods are ready (OnDelete updates)")
    partition = get_int((strategy.get("rollingUpdate") or {}).get("partition"))
    if partition > 0:
        updated = get_int(status.get("updatedReplicas"))
        if updated < want - partition:
            return Health(PROGRESSING, f"statefulset {name}: partitioned roll out: {updated} of "
                                       f"{want - partition} new pods have been updated")
        return Health(HEALTHY, f"statefulset {name}: partitioned roll out complete: {updated} new pods")
    update_rev, current_rev = status.get("updateRevision"), status.get("currentRevision")
    if update_rev and update_rev != current_rev:
        updated = get_int(status.get("updatedReplicas"))
        return Health(PROGRESSING, f"statefulset {name}: rolling update: {updated} of {want} pods at revision {update_rev}")
    return Health(HEALTHY, f"statefulset {name} rolled out: {ready} of {want} pods ready")
