"""Printers for batch/v1 Job and CronJob, ported from Kubernetes 1.32 ``printers.go``.

- Job: NAME STATUS COMPLETIONS DURATION AGE | CONTAINERS IMAGES SELECTOR. STATUS is the first
  of Complete, Failed, Terminating (being deleted), Suspended, FailureTarget that applies,
  else Running. COMPLETIONS is ``succeeded/completions``, or ``succeeded/1 of P`` for a work
  queue job with parallelism P > 1. DURATION runs from ``startTime`` to ``completionTime``
  (or to now while running) and is empty before the job starts.
- CronJob: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE | CONTAINERS IMAGES SELECTOR.

A Job with neither ``completions`` nor ``parallelism`` prints as its defaults (1 and 1), and a
CronJob without ``suspend`` as ``False``. Used through ``gitkube.apiserver.printers.PRINTERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer, describe
from gitkube.apiserver.printers.format import (
    format_label_selector,
    human_duration,
    layout_container_cells,
    parse_time,
    translate_timestamp_since,
)

__all__ = ["CRONJOB", "JOB"]

_CONTAINERS = Column("Containers", priority=1, description="Names of each container in the template.")
_IMAGES = Column("Images", priority=1, description="Images referenced by each container in the template.")


def _has_condition(conditions: list[Mapping[str, Any]], kind: str) -> bool:
    """``hasJobCondition``: the first condition of that type decides."""
    for condition in conditions:
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def _completions(spec: Mapping[str, Any], succeeded: int) -> str:
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    if completions is None and parallelism is None:
        completions = 1
    if completions is not None:
        return f"{succeeded}/{int(completions)}"
    if int(parallelism or 0) > 1:
        return f"{succeeded}/1 of {int(parallelism or 0)}"
    return f"{succeeded}/1"


def _job_status(obj: Mapping[str, Any], conditions: list[Mapping[str, Any]]) -> str:
    if _has_condition(conditions, "Complete"):
        return "Complete"
    if _has_condition(conditions, "Failed"):
        return "Failed"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if _has_condition(conditions, "Suspended"):
        return "Suspended"
    if _has_condition(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    conditions: list[Mapping[str, Any]] = status.get("conditions") or []
    started = parse_time(status.get("startTime"))
    completed = parse_time(status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((completed or now) - started)
    pod_spec = ((spec.get("template") or {}).get("spec")) or {}
    names, images = layout_container_cells(pod_spec.get("containers"))
    return [
        str(meta.get("name") or ""),
        _job_status(obj, conditions),
        _completions(spec, int(status.get("succeeded") or 0)),
        duration,
        translate_timestamp_since(meta.get("creationTimestamp"), now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


JOB = Printer(
    columns=(
        NAME,
        Column("Status", description="Status of the job."),
        Column("Completions", description=describe("JobStatus.succeeded")),
        Column("Duration", description="Time required to complete the job."),
        AGE,
        _CONTAINERS,
        _IMAGES,
        Column("Selector", priority=1, description=describe("JobSpec.selector")),
    ),
    row=_job,
)


def _print_bool(value: Any) -> str:
    """``printBoolPtr`` over a defaulted field: ``True`` or ``False``."""
    return "True" if value else "False"


def _cronjob(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    last = status.get("lastScheduleTime")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod_spec = ((job_spec.get("template") or {}).get("spec")) or {}
    names, images = layout_container_cells(pod_spec.get("containers"))
    return [
        str(meta.get("name") or ""),
        str(spec.get("schedule") or ""),
        "<none>" if spec.get("timeZone") is None else str(spec["timeZone"]),
        _print_bool(spec.get("suspend")),
        len(status.get("active") or []),
        translate_timestamp_since(last, now) if last else "<none>",
        translate_timestamp_since(meta.get("creationTimestamp"), now),
        names,
        images,
        format_label_selector(job_spec.get("selector")),
    ]


CRONJOB = Printer(
    columns=(
        NAME,
        Column("Schedule", description=describe("CronJobSpec.schedule")),
        Column("Timezone", description=describe("CronJobSpec.timeZone")),
        Column("Suspend", type="boolean", description=describe("CronJobSpec.suspend")),
        Column("Active", type="integer", description=describe("CronJobStatus.active")),
        Column("Last Schedule", description=describe("CronJobStatus.lastScheduleTime")),
        AGE,
        _CONTAINERS,
        _IMAGES,
        Column("Selector", priority=1, description=describe("JobSpec.selector")),
    ),
    row=_cronjob,
)
