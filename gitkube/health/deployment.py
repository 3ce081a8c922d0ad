"""Deployment health, as ``kubectl rollout status`` and Argo CD decide it.

Suspended when paused; Degraded when the Progressing condition says ``ProgressDeadlineExceeded``
or a pod of the newest ReplicaSet crash loops or cannot start; Progressing until the controller
has observed the latest spec, every replica is updated, the old ones are gone and the updated
ones are available; then Healthy. Pure.
"""

from __future__ import annotations

from typing import Any

from gitkube.health.model import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    SUSPENDED,
    Health,
    Related,
    condition,
    get_int,
    name_of,
)
from gitkube.health.pod import container_trouble

__all__ = ["assess_deployment", "newest_pods"]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def _revision(rs: dict[str, Any]) -> int:
    text = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(text))
    except ValueError:
        return -1


def newest_pods(dep: dict[str, Any], related: Related) -> list[dict[str, Any]]:
    """The pods of the Deployment's newest ReplicaSet (all related pods when no ReplicaSet is known)."""
    uid = (dep.get("metadata") or {}).get("uid")
    owned = [rs for rs in related.replicasets
             if not uid or any(ref.get("uid") == uid for ref in (rs.get("metadata") or {}).get("ownerReferences") or ())]
    if not owned:
        return list(related.pods)
    newest = max(owned, key=_revision)
    template_hash = ((newest.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL)
    if not template_hash:
        return list(related.pods)
    return [p for p in related.pods if ((p.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == template_hash]


def assess_deployment(dep: dict[str, Any], related: Related) -> Health:
    name = name_of(dep)
    spec = dep.get("spec") or {}
    status = dep.get("status") or {}
    if spec.get("paused"):
        return Health(SUSPENDED, f"deployment {name} is paused")
    progressing = condition(dep, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = str(progressing.get("message") or "").strip()
        return Health(DEGRADED, f"deployment {name} exceeded its progress deadline" + (f": {detail}" if detail else ""))
    for pod in newest_pods(dep, related):
        trouble = container_trouble(pod, related.since)
        if trouble:
            return Health(DEGRADED, trouble)
    generation = get_int((dep.get("metadata") or {}).get("generation"))
    if get_int(status.get("observedGeneration")) < generation:
        return Health(PROGRESSING, f"waiting for deployment {name} spec update to be observed")
    want = get_int(spec.get("replicas"), 1)
    updated = get_int(status.get("updatedReplicas"))
    replicas = get_int(status.get("replicas"))
    available = get_int(status.get("availableReplicas"))
    if updated < want:
        return Health(PROGRESSING, f"deployment {name}: {updated} of {want} new replicas have been updated")
    if replicas > updated:
        return Health(PROGRESSING, f"deployment {name}: {replicas - updated} old replicas are pending termination")
    if available < updated:
        return Health(PROGRESSING, f"deployment {name}: {available} of {updated} updated replicas are available")
    return Health(HEALTHY, f"deployment {name} rolled out: {available} of {want} replicas available")
