"""What the Job controller reads from and writes into pods, after kubernetes
``pkg/controller/job`` (``indexed_job_utils.go``, ``job_controller.go``).

Pure functions: the pod a Job creates from its template (owner reference, generated name,
and for ``completionMode: Indexed`` the ``batch.kubernetes.io/job-completion-index``
annotation and label, the ``NAME-INDEX`` hostname and the ``JOB_COMPLETION_INDEX``
environment variable read through the downward API), a pod's completion index, when it
finished, its restart count, and the ``completedIndexes`` interval format ("0-2,5,7,8").
Called by :mod:`gitkube.controllers.job.controller` and its status module.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from gitkube.api import meta

__all__ = [
    "COMPLETION_INDEX_ANNOTATION",
    "COMPLETION_INDEX_ENV",
    "completion_index",
    "finish_time",
    "format_indexes",
    "is_failed",
    "is_succeeded",
    "is_terminating",
    "job_owner_ref",
    "parse_indexes",
    "pod_from_template",
    "restart_count",
]

Obj = dict[str, Any]

COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
_MAX_GENERATED_NAME = 63 - 5


def job_owner_ref(job: Obj) -> Obj:
    """``metav1.NewControllerRef(job, batch/v1 Job)``."""
    return {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_succeeded(pod: Obj) -> bool:
    return _phase(pod) == "Succeeded"


def is_failed(pod: Obj) -> bool:
    """Failed and not being deleted: a pod the controller (or a user) deletes turns Failed
    while it terminates, which is not a failure of the workload."""
    return _phase(pod) == "Failed" and not (pod.get("metadata") or {}).get("deletionTimestamp")


def is_terminating(pod: Obj) -> bool:
    """Being deleted and not finished yet (controller.CountTerminatingPods)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) and _phase(pod) not in ("Succeeded", "Failed")


def completion_index(pod: Obj, completions: int) -> int | None:
    """The pod's index from its annotation, or None when missing or out of ``[0, completions)``."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
    if raw is None or not str(raw).isdigit():
        return None
    index = int(raw)
    return index if index < completions else None


def finish_time(pod: Obj) -> dt.datetime:
    """When the pod finished: the latest container termination, else its Ready condition's
    last transition, else its creation (getFinishedTime)."""
    status = pod.get("status") or {}
    finished = [str(s["state"]["terminated"]["finishedAt"])
                for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
                if ((s.get("state") or {}).get("terminated") or {}).get("finishedAt")]
    if finished:
        return max(meta.parse_time(t) for t in finished)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("lastTransitionTime"):
            return meta.parse_time(str(cond["lastTransitionTime"]))
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    return meta.parse_time(str(created)) if created else dt.datetime.now(dt.UTC)


def restart_count(pod: Obj) -> int:
    status = pod.get("status") or {}
    return sum(int(s.get("restartCount") or 0)
               for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []))


def _add_index_env(container: Obj) -> None:
    env = container.setdefault("env", [])
    if any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
        return
    env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}})


def _generate_name(job_name: str, index: int | None) -> str:
    if index is None:
        return f"{job_name}-"
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > _MAX_GENERATED_NAME:
        prefix = prefix[:_MAX_GENERATED_NAME - len(suffix)] + suffix
    return prefix


def pod_from_template(job: Obj, index: int | None = None) -> Obj:
    """The pod the Job creates (``index`` for Indexed Jobs)."""
    template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
    tm = template.get("metadata") or {}
    spec: Obj = template.get("spec") or {}
    md: Obj = {"generateName": _generate_name(str(job["metadata"]["name"]), index),
               "namespace": job["metadata"]["namespace"], "ownerReferences": [job_owner_ref(job)]}
    for fld in ("labels", "annotations", "finalizers"):
        if tm.get(fld):
            md[fld] = tm[fld]
    if index is not None:
        md.setdefault("annotations", {})[COMPLETION_INDEX_ANNOTATION] = str(index)
        md.setdefault("labels", {})[COMPLETION_INDEX_ANNOTATION] = str(index)
        if not spec.get("hostname"):
            spec["hostname"] = f"{job['metadata']['name']}-{index}"[:63].rstrip("-.")
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            _add_index_env(container)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"1,3-5"`` → ``{1, 3, 4, 5}``, dropping what is malformed or not below ``completions``."""
    out: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            continue
        lo, hi = int(first), int(last) if last else int(first)
        out.update(range(lo, min(hi, completions - 1) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """Ordered intervals as the Job status writes them: ``0-2``, ``0,1`` (two in a row), ``5``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        first, last = ordered[i], ordered[j]
        if last == first:
            parts.append(str(first))
        elif last == first + 1:
            parts.append(f"{first},{last}")
        else:
            parts.append(f"{first}-{last}")
        i = j + 1
    return ",".join(parts)
