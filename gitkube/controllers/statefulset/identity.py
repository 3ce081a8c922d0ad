"""Pure helpers of the StatefulSet controller: stable pod identity, storage and revisions
(Kubernetes ``pkg/controller/statefulset/stateful_set_utils.go``).

- Identity: pod ``<set>-<ordinal>``, labels ``statefulset.kubernetes.io/pod-name`` and
  ``apps.kubernetes.io/pod-index``, ``spec.hostname`` = the pod name and ``spec.subdomain`` =
  ``spec.serviceName`` (so a headless Service gives each pod a DNS name and the Endpoints
  controller an address ``hostname``).
- Storage: one PersistentVolumeClaim per ``volumeClaimTemplates`` entry and ordinal, named
  ``<template>-<set>-<ordinal>``, labelled with the template's labels plus the set's
  ``matchLabels``; the pod gets a ``persistentVolumeClaim`` volume of the template's name.
- Revisions: the ControllerRevision ``data`` (``{"spec": {"template": ..., "$patch":
  "replace"}}``) and the set a revision describes (:func:`apply_revision`); pods carry the
  revision name in ``controller-revision-hash``.
- Pod predicates: created, failed, succeeded, terminating, running-and-ready/available, healthy.

Used by :mod:`gitkube.controllers.statefulset.control` and ``.controller``.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

from gitkube.api import meta
from gitkube.controllers import history
from gitkube.controllers.replicaset import is_pod_available, is_pod_ready

__all__ = [
    "POD_INDEX_LABEL",
    "POD_NAME_LABEL",
    "apply_revision",
    "claim_name",
    "claims_for",
    "identity_matches",
    "is_created",
    "is_failed",
    "is_healthy",
    "is_running_and_available",
    "is_running_and_ready",
    "is_succeeded",
    "is_terminating",
    "new_pod",
    "ordinal_of",
    "parent_name",
    "pod_name",
    "pod_revision",
    "revision_data",
    "start_ordinal",
    "storage_matches",
    "versioned_pod",
]

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_NAME_RE = re.compile(r"^(.*)-([0-9]+)$")


# -- identity ----------------------------------------------------------------------------


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def _parse(pod: Obj) -> tuple[str, int]:
    match = _NAME_RE.match(str((pod.get("metadata") or {}).get("name") or ""))
    return (match.group(1), int(match.group(2))) if match else ("", -1)


def parent_name(pod: Obj) -> str:
    return _parse(pod)[0]


def ordinal_of(pod: Obj) -> int:
    """The ordinal in the pod's name, -1 when the name has none."""
    return _parse(pod)[1]


def start_ordinal(sts: Obj) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def identity_matches(sts: Obj, pod: Obj) -> bool:
    parent, ordinal = _parse(pod)
    m = pod.get("metadata") or {}
    return (ordinal >= 0 and parent == sts["metadata"]["name"] and m.get("name") == pod_name(sts, ordinal)
            and m.get("namespace") == sts["metadata"].get("namespace")
            and (m.get("labels") or {}).get(POD_NAME_LABEL) == m.get("name"))


def _update_identity(sts: Obj, pod: Obj, ordinal: int) -> None:
    m = pod.setdefault("metadata", {})
    m["name"] = pod_name(sts, ordinal)
    m["namespace"] = sts["metadata"].get("namespace")
    labels = m.setdefault("labels", {})
    labels[POD_NAME_LABEL] = m["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


# -- storage -----------------------------------------------------------------------------


def claim_name(template_name: str, sts: Obj, ordinal: int) -> str:
    return f"{template_name}-{sts['metadata']['name']}-{ordinal}"


def claims_for(sts: Obj, ordinal: int) -> dict[str, Obj]:
    """Template name -> the PersistentVolumeClaim the pod of ``ordinal`` uses."""
    spec = sts.get("spec") or {}
    match_labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
    out: dict[str, Obj] = {}
    for template in spec.get("volumeClaimTemplates") or []:
        tm = template.get("metadata") or {}
        name = str(tm.get("name") or "")
        claim_meta: Obj = {"name": claim_name(name, sts, ordinal), "namespace": sts["metadata"].get("namespace"),
                           "labels": {**(tm.get("labels") or {}), **match_labels}}
        if tm.get("annotations"):
            claim_meta["annotations"] = dict(tm["annotations"])
        claim_spec = copy.deepcopy(template.get("spec") or {})
        out[name] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim_meta, "spec": claim_spec}
    return out


def _update_storage(sts: Obj, pod: Obj, ordinal: int) -> None:
    claims = claims_for(sts, ordinal)
    spec = pod.setdefault("spec", {})
    volumes = [{"name": name, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
               for name, claim in claims.items()]
    volumes += [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
    if volumes:
        spec["volumes"] = volumes


def storage_matches(sts: Obj, pod: Obj) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    for name, claim in claims_for(sts, ordinal).items():
        source = (volumes.get(name) or {}).get("persistentVolumeClaim") or {}
        if source.get("claimName") != claim["metadata"]["name"]:
            return False
    return True


# -- pods --------------------------------------------------------------------------------


def new_pod(sts: Obj, ordinal: int) -> Obj:
    """``newStatefulSetPod``: the pod of ``ordinal`` from the set's template."""
    template = copy.deepcopy((sts.get("spec") or {}).get("template") or {})
    tm = template.get("metadata") or {}
    md: Obj = {"labels": dict(tm.get("labels") or {}),
               "ownerReferences": [history.controller_ref(sts, "StatefulSet")]}
    for field in ("annotations", "finalizers"):
        if tm.get(field):
            md[field] = copy.deepcopy(tm[field])
    pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}
    _update_identity(sts, pod, ordinal)
    pod["spec"]["hostname"] = md["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        pod["spec"]["subdomain"] = service
    _update_storage(sts, pod, ordinal)
    return pod


def versioned_pod(current_set: Obj, update_set: Obj, current_revision: str, update_revision: str,
                  ordinal: int) -> Obj:
    """``newVersionedStatefulSetPod``: below the partition (or the current replica count when
    RollingUpdate has no parameters) the pod keeps the current revision, else the update one."""
    spec = current_set.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    start = start_ordinal(current_set)
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if rolling is None:
            below = ordinal < start + int((current_set.get("status") or {}).get("currentReplicas") or 0)
        else:
            below = ordinal < start + int(rolling.get("partition") or 0)
        if below:
            pod = new_pod(current_set, ordinal)
            pod["metadata"]["labels"][history.CONTROLLER_REVISION_HASH] = current_revision
            return pod
    pod = new_pod(update_set, ordinal)
    pod["metadata"]["labels"][history.CONTROLLER_REVISION_HASH] = update_revision
    return pod


def pod_revision(pod: Obj) -> str:
    return meta.labels_of(pod).get(history.CONTROLLER_REVISION_HASH, "")


def is_created(pod: Obj) -> bool:
    return bool((pod.get("status") or {}).get("phase"))


def is_failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed"


def is_succeeded(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Succeeded"


def is_terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def is_running_and_available(pod: Obj, min_ready_seconds: int, now: dt.datetime | None = None) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


# -- revisions ---------------------------------------------------------------------------


def revision_data(sts: Obj) -> Obj:
    """The ``data`` of the set's ControllerRevision (``getPatch``)."""
    return history.template_patch(sts)


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """``ApplyRevision``: the set with the pod template recorded in ``revision``."""
    out = copy.deepcopy(sts)
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    out.setdefault("spec", {})["template"] = template
    return out
