"""Pod status as the kubelet reports it, computed from the pod worker's container states.

``ContainerState`` is the agent's record of one container (state, lastState, restartCount,
ready, started). ``pod_phase`` follows the kubelet's ``getPhase``; ``pod_status`` builds the
``status`` the agent writes through ``pods/status``: phase, conditions
(PodReadyToStartContainers, Initialized, Ready, ContainersReady, then the ones others own,
like PodScheduled, kept), hostIP, podIP(s), startTime, containerStatuses,
initContainerStatuses; a condition's lastTransitionTime only moves when its status does.
``go_duration`` formats seconds as Go's ``time.Duration`` does (``1m20s``) for messages.
Pure; used by ``gitkube.agent.podworker``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gitkube.api import meta

__all__ = ["ContainerState", "PodOutcome", "go_duration", "pod_phase", "pod_status", "same_status"]

Obj = dict[str, Any]
_OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


def go_duration(seconds: float) -> str:
    """``time.Duration.String()``: ``200ms``, ``10s``, ``1m20s``, ``5m0s``."""
    if seconds < 1:
        ms = round(seconds * 1000)
        return f"{ms}ms" if ms else "0s"
    whole = round(seconds, 3)
    minutes, secs = divmod(whole, 60)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if minutes >= 60:
        hours, minutes = divmod(int(minutes), 60)
        return f"{hours}h{minutes}m{secs_text}s"
    return f"{int(minutes)}m{secs_text}s" if minutes else f"{secs_text}s"


@dataclass
class ContainerState:
    name: str
    image: str = ""
    init: bool = False
    restart_count: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    container_id: str = ""

    def waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self.ready = False
        self.started = False

    def running(self, started_at: str, container_id: str) -> None:
        self.state = {"running": {"startedAt": started_at}}
        self.container_id = container_id

    def terminated(self, exit_code: int, reason: str, started_at: str, finished_at: str, message: str = "",
                   signal: int | None = None) -> None:
        term: Obj = {"exitCode": exit_code, "reason": reason, "startedAt": started_at or None,
                     "finishedAt": finished_at or meta.now()}
        if message:
            term["message"] = message
        if signal is not None:
            term["signal"] = signal
        if self.container_id:
            term["containerID"] = self.container_id
        self.state = {"terminated": term}
        self.ready = False
        self.started = False

    @property
    def exit_code(self) -> int | None:
        term = self.state.get("terminated")
        return int(term["exitCode"]) if term else None

    def to_status(self) -> Obj:
        out: Obj = {"name": self.name, "state": copy.deepcopy(self.state), "lastState": copy.deepcopy(self.last_state),
                    "ready": self.ready, "restartCount": self.restart_count, "image": self.image,
                    "imageID": "", "started": self.started}
        if self.container_id:
            out["containerID"] = self.container_id
        return out


@dataclass(frozen=True)
class PodOutcome:
    """A pod-level end the containers do not tell: DeadlineExceeded, a failed init."""

    phase: str
    reason: str = ""
    message: str = ""


def pod_phase(init: list[ContainerState], main: list[ContainerState], restart_policy: str) -> str:
    """The kubelet's getPhase."""
    for c in init:
        if c.exit_code not in (None, 0) and restart_policy == "Never":
            return "Failed"
    if any(c.exit_code != 0 for c in init):
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for c in main:
        if "running" in c.state:
            running += 1
        elif "terminated" in c.state:
            stopped += 1
            succeeded += c.exit_code == 0
        elif c.last_state.get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        c["reason"] = reason
    if not ok and message:
        c["message"] = message
    return c


def pod_status(pod: Obj, *, init: list[ContainerState], main: list[ContainerState], pod_ip: str, host_ip: str,
               start_time: str, sandbox_ready: bool, outcome: PodOutcome | None = None,
               terminating: bool = False) -> Obj:
    """The full status the agent wants the pod to have."""
    old = pod.get("status") or {}
    policy = str((pod.get("spec") or {}).get("restartPolicy") or "Always")
    if terminating:  # a deleted pod's stopped containers are not restarted: the phase turns terminal
        policy = "Never"
    phase = outcome.phase if outcome else pod_phase(init, main, policy)
    done = phase in ("Succeeded", "Failed")
    incomplete = [c.name for c in init if c.exit_code != 0]
    unready = [c.name for c in main if not c.ready]
    conds = [_condition("PodReadyToStartContainers", sandbox_ready and not done)]
    if not incomplete:
        conds.append(_condition("Initialized", True))
    else:
        conds.append(_condition("Initialized", False, "ContainersNotInitialized",
                                f"containers with incomplete status: [{' '.join(incomplete)}]"))
    if done:
        ready = [_condition("Ready", False, "PodCompleted"), _condition("ContainersReady", False, "PodCompleted")]
    elif unready or terminating:
        msg = f"containers with unready status: [{' '.join(unready or [c.name for c in main])}]"
        ready = [_condition("Ready", False, "ContainersNotReady", msg),
                 _condition("ContainersReady", False, "ContainersNotReady", msg)]
        if terminating and not unready:
            ready[0] = _condition("Ready", False, "PodTerminating", "the pod is being deleted")
    else:
        ready = [_condition("Ready", True), _condition("ContainersReady", True)]
    conds += ready
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    now = meta.now()
    for c in conds:
        prev = previous.get(c["type"])
        c["lastTransitionTime"] = prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] else now
    conds += [copy.deepcopy(c) for c in old.get("conditions") or [] if c.get("type") not in _OWN_CONDITIONS]
    status: Obj = {**{k: v for k, v in old.items() if k in ("qosClass", "nominatedNodeName")}, "phase": phase,
                   "conditions": conds, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}] if host_ip else [],
                   "startTime": start_time}
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if outcome and outcome.reason:
        status["reason"] = outcome.reason
        status["message"] = outcome.message
    if init:
        status["initContainerStatuses"] = [c.to_status() for c in init]
    status["containerStatuses"] = [c.to_status() for c in main]
    return status


def same_status(a: Obj, b: Obj) -> bool:
    """Equal apart from condition timestamps (so an unchanged status is not rewritten)."""
    def strip(s: Obj) -> Obj:
        s = copy.deepcopy(s)
        for c in s.get("conditions") or []:
            c.pop("lastTransitionTime", None)
            c.pop("lastProbeTime", None)
        return s
    return strip(a) == strip(b)
