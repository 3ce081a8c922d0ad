"""Job and CronJob health.

A Job is Healthy once its ``Complete`` condition is true, Degraded once ``Failed`` is (with the
reason: ``BackoffLimitExceeded``, ``DeadlineExceeded``), Suspended when ``spec.suspend``, else
Progressing. A CronJob is Suspended when ``spec.suspend``, else Healthy (its runs are Jobs of
their own). Pure.
"""

from __future__ import annotations

from typing import Any

from gitkube.health.model import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    SUSPENDED,
    Health,
    condition,
    get_int,
    name_of,
)

__all__ = ["assess_cronjob", "assess_job"]


def _true(cond: dict[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "True"


def assess_job(job: dict[str, Any]) -> Health:
    name = name_of(job)
    status = job.get("status") or {}
    failed = condition(job, "Failed")
    if _true(failed):
        assert failed is not None
        why = failed.get("message") or failed.get("reason") or "failed"
        return Health(DEGRADED, f"job {name} failed: {why}")
    if _true(condition(job, "Complete")):
        return Health(HEALTHY, f"job {name} completed")
    if (job.get("spec") or {}).get("suspend"):
        return Health(SUSPENDED, f"job {name} is suspended")
    active, succeeded = get_int(status.get("active")), get_int(status.get("succeeded"))
    return Health(PROGRESSING, f"job {name} is running: {active} active, {succeeded} succeeded")


def assess_cronjob(cron: dict[str, Any]) -> Health:
    name = name_of(cron)
    if (cron.get("spec") or {}).get("suspend"):
        return Health(SUSPENDED, f"cronjob {name} is suspended")
    return Health(HEALTHY, f"cronjob {name} is scheduled")
