"""Pod health, and the crash-loop detection the workload kinds share.

A pod that has succeeded is Healthy (a finished one-shot pod); failed, crash looping
(``CrashLoopBackOff``, or a container that terminated with 2 or more restarts) or unable to
start a container (image pull errors, ``CreateContainerError``, ...) is Degraded; Ready is
Healthy; anything else is Progressing, with the reason the pod is waiting. Pure.
"""

from __future__ import annotations

from typing import Any

from gitkube.health.model import DEGRADED, HEALTHY, PROGRESSING, Health, condition, get_int, name_of

__all__ = ["START_FAILURES", "assess_pod", "container_trouble"]

# Waiting reasons that mean the container cannot start: no amount of waiting fixes them.
START_FAILURES = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerError",
    "CreateContainerConfigError", "RunContainerError", "ContainerCannotRun", "PreStartHookError",
})
_RESTARTS_FOR_CRASH_LOOP = 2


def _termination(status: dict[str, Any]) -> str:
    """``Error, exit code 1`` from the last (or current) termination of a container."""
    for where in ("lastState", "state"):
        term = (status.get(where) or {}).get("terminated")
        if isinstance(term, dict):
            reason = str(term.get("reason") or "terminated")
            code = term.get("exitCode")
            text = f"{reason}, exit code {code}" if code is not None else reason
            message = str(term.get("message") or "").strip()
            return f"{text}: {message}" if message else text
    return "no termination recorded"


def container_trouble(pod: dict[str, Any], since: str = "") -> str | None:
    """Why a pod's container is failing (crash loop, cannot start), or None. Restarts count as a
    crash loop only when the last termination finished at or after ``since`` (RFC 3339; "" = any);
    a container waiting in CrashLoopBackOff always does."""
    status = pod.get("status") or {}
    restart_policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    statuses = [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]
    for cs in statuses:
        if not isinstance(cs, dict):
            continue
        name = cs.get("name", "?")
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if reason == "CrashLoopBackOff":
            return f"container {name} of pod {name_of(pod)} is crash looping: {_termination(cs)}"
        if reason in START_FAILURES:
            message = str(waiting.get("message") or "").strip()
            return f"container {name} of pod {name_of(pod)} cannot start: {reason}" + (f": {message}" if message else "")
        restarts = get_int(cs.get("restartCount"))
        terminated = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
        finished = str(terminated.get("finishedAt") or "") if terminated else ""
        if since and finished and finished < since:
            continue
        if terminated and restarts >= _RESTARTS_FOR_CRASH_LOOP and restart_policy != "Never":
            return f"container {name} of pod {name_of(pod)} is crash looping: {_termination(cs)}"
    return None


def assess_pod(pod: dict[str, Any]) -> Health:
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    name = name_of(pod)
    if phase == "Succeeded":
        return Health(HEALTHY, f"pod {name} completed")
    if phase == "Failed":
        why = status.get("message") or status.get("reason") or "a container failed"
        return Health(DEGRADED, f"pod {name} failed: {why}")
    trouble = container_trouble(pod)
    if trouble:
        return Health(DEGRADED, trouble)
    ready = condition(pod, "Ready")
    if phase == "Running" and ready is not None and ready.get("status") == "True":
        return Health(HEALTHY, f"pod {name} is ready")
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return Health(PROGRESSING, f"pod {name} is not scheduled: {scheduled.get('message') or scheduled.get('reason')}")
    if phase == "Running":
        why = (ready or {}).get("message") or "readiness not reached"
        return Health(PROGRESSING, f"pod {name} is running but not ready: {why}")
    return Health(PROGRESSING, f"pod {name} is {phase.lower()}")
