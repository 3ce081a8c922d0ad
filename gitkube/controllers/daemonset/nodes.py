"""Which nodes a DaemonSet runs on, and the pod it puts there (pure; after Kubernetes
``pkg/controller/daemon/util`` and ``NodeShouldRunDaemonPod``).

- :func:`daemon_tolerations`: the tolerations every daemon pod gets
  (``AddOrUpdateDaemonPodTolerations``): NoExecute ``not-ready`` and ``unreachable``,
  NoSchedule ``disk-pressure``, ``memory-pressure``, ``pid-pressure`` and
  ``unschedulable`` (so cordoned nodes still run daemons), and ``network-unavailable`` for
  host-network pods.
- :func:`should_run`: ``(should_run, should_continue_running)`` for one node: the template's
  ``nodeName`` (if set), ``nodeSelector`` and required node affinity (matchExpressions over
  labels, matchFields over ``metadata.name``) must match; NoSchedule/NoExecute taints must be
  tolerated, and a pod already there may stay while only NoSchedule taints are untolerated.
- :func:`new_pod`: the pod for one node, pinned with a required node affinity term
  ``matchFields metadata.name In [node]`` (``ReplaceDaemonSetPodNodeNameNodeAffinity``, as
  Kubernetes does since 1.12) so that the scheduler binds it, labelled with the
  ``controller-revision-hash`` (and ``pod-template-generation`` when the DaemonSet carries
  ``deprecated.daemonset.template.generation``).
- :func:`target_node`: the node a daemon pod is for (``spec.nodeName`` or that affinity term).

Called by :mod:`gitkube.controllers.daemonset.controller` and ``.plan``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from gitkube.api import labels as well_known
from gitkube.api.scheduling import matches_node_affinity, tolerates
from gitkube.controllers.history import CONTROLLER_REVISION_HASH, controller_ref

__all__ = [
    "POD_TEMPLATE_GENERATION",
    "TEMPLATE_GENERATION_ANNOTATION",
    "daemon_tolerations",
    "matches_node_affinity",
    "new_pod",
    "should_run",
    "target_node",
    "template_generation",
    "tolerates",
]

Obj = dict[str, Any]

POD_TEMPLATE_GENERATION = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

_NO_EXECUTE = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_NO_SCHEDULE = ("node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure", well_known.TAINT_UNSCHEDULABLE)
_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"


def daemon_tolerations(pod_spec: Mapping[str, Any]) -> list[Obj]:
    """The pod's tolerations with the daemon ones added (an existing toleration of the same
    key, operator and effect is replaced, as ``AddOrUpdateTolerationInPodSpec`` does)."""
    wanted = [{"key": k, "operator": "Exists", "effect": "NoExecute"} for k in _NO_EXECUTE]
    wanted += [{"key": k, "operator": "Exists", "effect": "NoSchedule"} for k in _NO_SCHEDULE]
    if pod_spec.get("hostNetwork"):
        wanted.append({"key": _NETWORK_UNAVAILABLE, "operator": "Exists", "effect": "NoSchedule"})
    out = [dict(t) for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    for tol in wanted:
        same = [i for i, t in enumerate(out) if t.get("key") == tol["key"] and t.get("effect") == tol["effect"]
                and (t.get("operator") or "Equal") == tol["operator"]]
        if same:
            out[same[0]] = tol
        else:
            out.append(tol)
    return out


def _untolerated(taints: Iterable[Mapping[str, Any]], tolerations: list[Obj], effects: tuple[str, ...]) -> bool:
    return any(t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations) for t in taints)


def should_run(node: Mapping[str, Any], ds: Mapping[str, Any]) -> tuple[bool, bool]:
    """``NodeShouldRunDaemonPod``: (a daemon pod should run here, one already here may stay)."""
    pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    node_name = str((node.get("metadata") or {}).get("name") or "")
    wanted_node = pod_spec.get("nodeName")
    if wanted_node and wanted_node != node_name:
        return False, False
    if not matches_node_affinity(pod_spec, node):
        return False, False
    tolerations = daemon_tolerations(pod_spec)
    taints = (node.get("spec") or {}).get("taints") or []
    if _untolerated(taints, tolerations, ("NoSchedule", "NoExecute")):
        return False, not _untolerated(taints, tolerations, ("NoExecute",))
    return True, True


def template_generation(ds: Mapping[str, Any]) -> str | None:
    """The deprecated template generation annotation, when the DaemonSet has one."""
    value = ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    return str(value) if value else None


def _pin_to_node(pod_spec: Obj, node_name: str) -> None:
    """``ReplaceDaemonSetPodNodeNameNodeAffinity``: the required terms become one term
    selecting the node by ``metadata.name``; preferred terms stay."""
    affinity = pod_spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}


def new_pod(ds: Mapping[str, Any], node_name: str, hash_: str) -> Obj:
    """The daemon pod for ``node_name`` (unsaved; the API server generates its name)."""
    dm = ds.get("metadata") or {}
    template = copy.deepcopy(((ds.get("spec") or {}).get("template")) or {})
    tm = template.get("metadata") or {}
    pod_labels = dict(tm.get("labels") or {})
    pod_labels[CONTROLLER_REVISION_HASH] = hash_
    generation = template_generation(ds)
    if generation is not None:
        pod_labels[POD_TEMPLATE_GENERATION] = generation
    md: Obj = {"generateName": f"{dm.get('name')}-", "namespace": dm.get("namespace"), "labels": pod_labels,
               "ownerReferences": [controller_ref(ds, "DaemonSet")]}
    for fld in ("annotations", "finalizers"):
        if tm.get(fld):
            md[fld] = tm[fld]
    spec = dict(template.get("spec") or {})
    spec["tolerations"] = daemon_tolerations(spec)
    _pin_to_node(spec, node_name)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def target_node(pod: Mapping[str, Any]) -> str | None:
    """``GetTargetNodeName``: ``spec.nodeName``, else the node of a daemon affinity term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution")) or {}
    terms = required.get("nodeSelectorTerms") or []
    if len(terms) != 1:
        return None
    fields = terms[0].get("matchFields") or []
    for req in fields:
        values = req.get("values") or []
        if req.get("key") == "metadata.name" and req.get("operator") == "In" and len(values) == 1:
            return str(values[0])
    return None
