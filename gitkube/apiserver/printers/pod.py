"""The Pod printer: what ``kubectl get pods`` shows, ported from Kubernetes 1.32 ``printPod``.

Columns: NAME READY STATUS RESTARTS AGE, and for ``-o wide`` IP NODE NOMINATED NODE
READINESS GATES. The STATUS cell follows the real precedence, in order:

1. ``status.reason`` (e.g. ``Evicted``) or else ``status.phase``; ``SchedulingGated`` when the
   PodScheduled condition says so;
2. the first init container that has not succeeded: ``Init:<reason>``, ``Init:ExitCode:N``,
   ``Init:Signal:N`` or ``Init:i/n`` (sidecar init containers, ``restartPolicy: Always``, count
   as started once ``started`` is true and add to READY and the container total);
3. once initialised, the first regular container that is waiting or terminated gives its
   reason (``CrashLoopBackOff``, ``ContainerCreating``, ``Completed``, ``Error``, ``OOMKilled``,
   ``ExitCode:N``); ``Completed`` with a container still running becomes ``Running`` or
   ``NotReady`` from the pod's Ready condition;
4. a pod being deleted shows ``Terminating``, or ``Unknown`` when its node was lost
   (``status.reason: NodeLost``); pods already Succeeded/Failed keep their status.

RESTARTS is the restart count, with ``(<age> ago)`` of the latest ``lastState.terminated.finishedAt``.
Succeeded and Failed pods also get the row condition ``Completed`` as the real server sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer, describe
from gitkube.apiserver.printers.format import age_since, parse_time, translate_timestamp_since

__all__ = ["POD", "pod_cells", "pod_conditions"]

_NODE_UNREACHABLE_POD_REASON = "NodeLost"
_TERMINAL_PHASES = ("Succeeded", "Failed")


def _latest(current: datetime | None, status: Mapping[str, Any]) -> datetime | None:
    """The later of *current* and this container's ``lastState.terminated.finishedAt``."""
    terminated = (status.get("lastState") or {}).get("terminated")
    if terminated is None:
        return current
    finished = parse_time(terminated.get("finishedAt"))
    if finished is None or (current is not None and current >= finished):
        return current
    return finished


def _exit_reason(prefix: str, terminated: Mapping[str, Any]) -> str:
    if terminated.get("reason"):
        return f"{prefix}{terminated['reason']}"
    signal = int(terminated.get("signal") or 0)
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{int(terminated.get('exitCode') or 0)}"


def _condition_true(conditions: list[Mapping[str, Any]], kind: str) -> bool:
    for condition in conditions:
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def _condition_true_any(conditions: list[Mapping[str, Any]], kind: str) -> bool:
    """``hasPodReadyCondition``: any condition of that type with status True."""
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _readiness_gates(spec: Mapping[str, Any], conditions: list[Mapping[str, Any]]) -> str:
    gates = spec.get("readinessGates") or []
    if not gates:
        return "<none>"
    true_conditions = 0
    for gate in gates:
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                if condition.get("status") == "True":
                    true_conditions += 1
                break
    return f"{true_conditions}/{len(gates)}"


def pod_cells(pod: Mapping[str, Any], now: datetime) -> list[Cell]:
    """The cells of one pod row, wide columns included."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    conditions: list[Mapping[str, Any]] = status.get("conditions") or []
    init_specs: list[Mapping[str, Any]] = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}

    restarts = 0
    sidecar_restarts = 0
    total = len(spec.get("containers") or []) + sum(
        1 for c in init_specs if c.get("restartPolicy") == "Always"
    )
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or "") or phase
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for index, container in enumerate(status.get("initContainerStatuses") or []):
        count = int(container.get("restartCount") or 0)
        restarts += count
        last_restart = _latest(last_restart, container)
        is_sidecar = container.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _latest(last_sidecar_restart, container)
        state = container.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if is_sidecar and container.get("started") is True:
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            reason = _exit_reason("Init:", terminated)
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount") or 0)
            last_restart = _latest(last_restart, container)
            state = container.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None:
                reason = _exit_reason("", terminated)
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true_any(conditions, "Ready") else "NotReady"

    deleting = bool(meta.get("deletionTimestamp"))
    if deleting and status.get("reason") == _NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif deleting and phase not in _TERMINAL_PHASES:
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_text = f"{restarts} ({age_since(last_restart, now)} ago)"

    pod_ips = status.get("podIPs") or []
    # The v1 -> internal conversion fills podIPs from podIP, so an object that only has podIP
    # prints the same as on a real server.
    pod_ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
    return [
        str(meta.get("name") or ""),
        f"{ready}/{total}",
        reason,
        restarts_text,
        translate_timestamp_since(meta.get("creationTimestamp"), now),
        str(pod_ip),
        str(spec.get("nodeName") or "<none>"),
        str(status.get("nominatedNodeName") or "<none>"),
        _readiness_gates(spec, conditions),
    ]


def pod_conditions(pod: Mapping[str, Any]) -> list[dict[str, str]]:
    """Row conditions: ``Completed`` for Succeeded and Failed pods, as ``printPod`` sets them."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


POD = Printer(
    columns=(
        NAME,
        Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", description="The aggregate status of the containers in this pod."),
        Column(
            "Restarts",
            description="The number of times the containers in this pod have been restarted and when the "
            "last container in this pod has restarted.",
        ),
        AGE,
        Column("IP", priority=1, description=describe("PodStatus.podIP")),
        Column("Node", priority=1, description=describe("PodSpec.nodeName")),
        Column("Nominated Node", priority=1, description=describe("PodStatus.nominatedNodeName")),
        Column("Readiness Gates", priority=1, description=describe("PodSpec.readinessGates")),
    ),
    row=pod_cells,
    conditions=pod_conditions,
)
