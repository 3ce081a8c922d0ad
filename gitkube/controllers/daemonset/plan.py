"""What one DaemonSet sync should do, computed from the caches (pure; after Kubernetes
``pkg/controller/daemon/daemon_controller.go`` and ``update.go``).

- :func:`manage`: per node, create a missing daemon pod where one should run; delete failed
  or succeeded pods (the controller backs off per node), all but the oldest running pod
  (without surge; with surge, at most one old and one new), every pod on a node where none
  may continue running, and unscheduled pods whose target node is gone.
- :func:`rolling_update`: which old pods to delete (``maxSurge`` 0: as many as
  ``maxUnavailable`` allows, the unavailable ones always) or on which nodes to create an
  extra new pod (``maxSurge`` > 0: up to that many, and wherever the old pod is not
  available; an old pod goes once its node's new one is available).
- :func:`calculate_status`: ``desiredNumberScheduled``, ``currentNumberScheduled``,
  ``numberMisscheduled``, ``numberReady``, ``numberAvailable``, ``updatedNumberScheduled``,
  ``numberUnavailable`` and ``observedGeneration``, counting the oldest pod of each node.

``NodePods`` maps a node name to the daemon pods bound or targeted there. Called by
:mod:`gitkube.controllers.daemonset.controller`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.api import meta
from gitkube.controllers.daemonset.nodes import POD_TEMPLATE_GENERATION, should_run, template_generation
from gitkube.controllers.deployment.util import scaled_value
from gitkube.controllers.history import CONTROLLER_REVISION_HASH
from gitkube.controllers.replicaset import is_pod_available, is_pod_ready

__all__ = [
    "ManagePlan",
    "NodePods",
    "by_age",
    "calculate_status",
    "is_pod_updated",
    "manage",
    "min_ready_seconds",
    "rolling_update",
    "surge_and_unavailable",
]

Obj = dict[str, Any]
NodePods = dict[str, list[Obj]]


@dataclass
class ManagePlan:
    """Nodes to create a pod on, pods to delete, and failed pods (node, pod) to delete
    subject to the per-node backoff."""

    create_on: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    failed: list[tuple[str, Obj]] = field(default_factory=list)


def min_ready_seconds(ds: Mapping[str, Any]) -> int:
    return int((ds.get("spec") or {}).get("minReadySeconds") or 0)


def _deleting(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def by_age(pods: Iterable[Obj]) -> list[Obj]:
    """``podByCreationTimestampAndPhase``: scheduled first, then oldest, then by name."""
    def key(p: Obj) -> tuple[bool, str, str]:
        m = p.get("metadata") or {}
        return (not (p.get("spec") or {}).get("nodeName"), str(m.get("creationTimestamp") or ""), str(m.get("name") or ""))
    return sorted(pods, key=key)


def is_pod_updated(pod: Mapping[str, Any], hash_: str, generation: str | None) -> bool:
    """``IsPodUpdated``: the pod carries the current revision hash (or template generation)."""
    pod_labels = (pod.get("metadata") or {}).get("labels") or {}
    if generation is not None and pod_labels.get(POD_TEMPLATE_GENERATION) == generation:
        return True
    return bool(hash_) and pod_labels.get(CONTROLLER_REVISION_HASH) == hash_


def _allows_surge(ds: Mapping[str, Any]) -> bool:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge")
    try:
        return scaled_value(surge, 1, True) != 0
    except Exception:  # noqa: BLE001 - an unparsable value means no surge, as Kubernetes does
        return False


def manage(ds: Obj, nodes: list[Obj], node_pods: NodePods, hash_: str, now: dt.datetime) -> ManagePlan:
    plan = ManagePlan()
    known = set()
    for node in nodes:
        name = str(node["metadata"]["name"])
        known.add(name)
        run, keep = should_run(node, ds)
        pods = node_pods.get(name) or []
        if run and not pods:
            plan.create_on.append(name)
        elif run:
            _one_per_node(ds, name, pods, hash_, now, plan)
        elif not keep and pods:
            plan.delete.extend(p for p in pods if not _deleting(p))
    for name, pods in node_pods.items():  # getUnscheduledPodsWithoutNode
        if name not in known:
            plan.delete.extend(p for p in pods if not (p.get("spec") or {}).get("nodeName") and not _deleting(p))
    return plan


def _one_per_node(ds: Obj, node: str, pods: list[Obj], hash_: str, now: dt.datetime, plan: ManagePlan) -> None:
    running: list[Obj] = []
    for pod in pods:
        if _deleting(pod):
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Failed":
            plan.failed.append((node, pod))
        elif phase == "Succeeded":
            plan.delete.append(pod)
        else:
            running.append(pod)
    if len(running) <= 1:
        return
    ordered = by_age(running)
    if not _allows_surge(ds):
        plan.delete.extend(ordered[1:])
        return
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    for pod in ordered:
        if (meta.labels_of(pod)).get(CONTROLLER_REVISION_HASH) == hash_:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        plan.delete.append(pod)
    if oldest_new is not None and oldest_old is not None:
        if not is_pod_ready(oldest_old) or is_pod_available(oldest_new, min_ready_seconds(ds), now):
            plan.delete.append(oldest_old)


def surge_and_unavailable(ds: Mapping[str, Any], desired: int) -> tuple[int, int]:
    """``SurgeCount`` and ``UnavailableCount`` (both round up); 0 and 0 become 0 and 1."""
    rolling = (((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")) or {}
    surge = scaled_value(rolling.get("maxSurge"), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable"), desired, True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _split(pods: list[Obj], hash_: str, generation: str | None) -> tuple[Obj | None, Obj | None, bool]:
    """``findUpdatedPodsOnNode``: (new pod, old pod, at most one of each)."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if _deleting(pod):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update(ds: Obj, nodes: list[Obj], node_pods: NodePods, hash_: str,
                   now: dt.datetime) -> tuple[list[Obj], list[str]]:
    """Old pods to delete and nodes to surge a new pod onto, for one RollingUpdate step."""
    pods_by_node: NodePods = {k: list(v) for k, v in node_pods.items()}
    desired = 0
    for node in nodes:
        if should_run(node, ds)[0]:
            desired += 1
            pods_by_node.setdefault(str(node["metadata"]["name"]), [])
    surge, unavailable = surge_and_unavailable(ds, desired)
    generation = template_generation(ds)
    min_ready = min_ready_seconds(ds)
    if surge == 0:
        num_unavailable = 0
        replace: list[Obj] = []
        candidates: list[Obj] = []
        for name in sorted(pods_by_node):
            new, old, ok = _split(pods_by_node[name], hash_, generation)
            if not ok or (old is None) == (new is None):
                num_unavailable += 1
            elif new is not None:
                if not is_pod_available(new, min_ready, now):
                    num_unavailable += 1
            elif old is not None:
                if not is_pod_available(old, min_ready, now):
                    replace.append(old)
                elif num_unavailable < unavailable:
                    candidates.append(old)
        room = min(max(unavailable - num_unavailable, 0), len(candidates))
        return replace + candidates[:room], []
    num_surge = 0
    delete: list[Obj] = []
    allowed: list[str] = []
    candidate_nodes: list[str] = []
    for name in sorted(pods_by_node):
        new, old, ok = _split(pods_by_node[name], hash_, generation)
        if not ok:
            num_surge += 1
        elif old is None:
            continue
        elif new is None:
            if not is_pod_available(old, min_ready, now):
                allowed.append(name)
            elif num_surge < surge:
                candidate_nodes.append(name)
        elif not is_pod_available(new, min_ready, now):
            num_surge += 1
        else:
            delete.append(old)
    room = min(max(surge - num_surge, 0), len(candidate_nodes))
    return delete, allowed + candidate_nodes[:room]


def calculate_status(ds: Obj, nodes: list[Obj], node_pods: NodePods, hash_: str, now: dt.datetime,
                     observe: bool) -> Obj:
    """The DaemonSet status for the current pods (``updateDaemonSetStatus``); ``observe``
    raises ``observedGeneration`` (only when the sync acted on this generation)."""
    desired = current = misscheduled = ready = available = updated = 0
    generation = template_generation(ds)
    min_ready = min_ready_seconds(ds)
    for node in nodes:
        name = str(node["metadata"]["name"])
        run, _ = should_run(node, ds)
        pods = node_pods.get(name) or []
        if not run:
            misscheduled += 1 if pods else 0
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = by_age(pods)[0]
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
        if is_pod_updated(pod, hash_, generation):
            updated += 1
    old = ds.get("status") or {}
    status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                   "desiredNumberScheduled": desired, "numberReady": ready}
    observed = int(ds["metadata"].get("generation") or 0) if observe else int(old.get("observedGeneration") or 0)
    optional = (("observedGeneration", observed), ("updatedNumberScheduled", updated),
                ("numberAvailable", available), ("numberUnavailable", desired - available))
    for key, value in optional:
        if value:
            status[key] = value
    for key in ("collisionCount", "conditions"):
        if old.get(key) is not None:
            status[key] = old[key]
    return status
