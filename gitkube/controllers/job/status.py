"""Job conditions, failure verdicts and retry back-off, after kubernetes
``pkg/controller/job`` (``job_controller.go``, ``backoff_utils.go``).

Pure functions over a Job and its pods: whether a Job has finished (a ``Complete`` or
``Failed`` condition), the condition list with one condition set or cleared the way
``ensureJobConditionStatus`` does, the backoff-limit and active-deadline verdicts, and how
long the controller must still wait before replacing failed pods (``base`` seconds doubling
per failure since the last success, capped). Called by
:mod:`gitkube.controllers.job.controller`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gitkube.api import meta
from gitkube.controllers.job.pods import finish_time, is_failed, is_succeeded, restart_count

__all__ = [
    "DEFAULT_BACKOFF",
    "MAX_BACKOFF",
    "backoff_remaining",
    "deadline_remaining",
    "ensure_condition",
    "finished_condition",
    "finished_time",
    "past_backoff_limit",
]

Obj = dict[str, Any]

DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0


def finished_condition(job: Obj) -> Obj | None:
    """The ``Complete`` or ``Failed`` condition that is True, if the Job has finished."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return dict(cond)
    return None


def finished_time(job: Obj) -> dt.datetime | None:
    """When the Job finished: its completionTime, else the finishing condition's transition."""
    cond = finished_condition(job)
    if cond is None:
        return None
    completed = (job.get("status") or {}).get("completionTime")
    when = completed if cond["type"] == "Complete" and completed else cond.get("lastTransitionTime")
    return meta.parse_time(str(when)) if when else None


def ensure_condition(conditions: list[Obj], kind: str, status: str, reason: str, message: str,
                     now: dt.datetime) -> tuple[list[Obj], bool]:
    """``conditions`` with ``kind`` at ``status``; a False condition is only written over an
    existing one. Returns the list and whether it changed."""
    out = [dict(c) for c in conditions]
    stamp = meta.format_time(now)
    for cond in out:
        if cond.get("type") != kind:
            continue
        if cond.get("status") == status and cond.get("reason") == reason and cond.get("message") == message:
            return out, False
        if cond.get("status") != status:
            cond["lastTransitionTime"] = stamp
        cond.update(status=status, reason=reason, message=message, lastProbeTime=stamp)
        return out, True
    if status == "False":
        return out, False
    out.append({"type": kind, "status": status, "lastProbeTime": stamp, "lastTransitionTime": stamp,
                "reason": reason, "message": message})
    return out, True


def past_backoff_limit(job: Obj, failed: int, active_pods: list[Obj]) -> bool:
    """More failed pods than ``backoffLimit``; with ``restartPolicy: OnFailure`` also the
    container restarts of running pods reaching it (pastBackoffLimitOnFailure)."""
    spec = job.get("spec") or {}
    raw = spec.get("backoffLimit")
    limit = 6 if raw is None else int(raw)
    if failed > limit:
        return True
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(restart_count(p) for p in active_pods
                   if (p.get("status") or {}).get("phase") in ("Running", "Pending", None))
    return restarts > 0 if limit == 0 else restarts >= limit


def deadline_remaining(job: Obj, now: dt.datetime) -> float | None:
    """Seconds left before ``activeDeadlineSeconds`` runs out (<= 0: past it); None when there is
    no deadline, the Job has not started or is suspended."""
    spec = job.get("spec") or {}
    deadline = spec.get("activeDeadlineSeconds")
    started = (job.get("status") or {}).get("startTime")
    if deadline is None or not started or spec.get("suspend") is True:
        return None
    end = meta.parse_time(str(started)) + dt.timedelta(seconds=int(deadline))
    return (end - now).total_seconds()


def backoff_remaining(pods: list[Obj], now: dt.datetime, *, base: float = DEFAULT_BACKOFF,
                      cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait before creating replacement pods: ``base * 2**(n-1)`` (at most
    ``cap``) after the last failure, n being the failures since the last success."""
    last_success = max((finish_time(p) for p in pods if is_succeeded(p)), default=None)
    failures = [finish_time(p) for p in pods if is_failed(p)]
    if last_success is not None:
        failures = [t for t in failures if t > last_success]
    if not failures:
        return 0.0
    delay = min(base * float(1 << (len(failures) - 1)), cap)
    return delay - (now - max(failures)).total_seconds()
