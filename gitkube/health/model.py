"""Health verdicts and the related objects some verdicts need.

:class:`Health` is what :func:`gitkube.health.assess` returns for one object; :class:`Related`
carries what the caller read beside it (a Deployment's ReplicaSets and pods, a Service's
Endpoints), as :func:`gitkube.health.needs` asks. Also the small tolerant accessors every kind
module shares. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEGRADED",
    "HEALTHY",
    "MISSING",
    "PROGRESSING",
    "STATUSES",
    "SUSPENDED",
    "Health",
    "Related",
    "condition",
    "get_int",
    "name_of",
]

HEALTHY = "Healthy"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
MISSING = "Missing"
SUSPENDED = "Suspended"
STATUSES = (HEALTHY, PROGRESSING, DEGRADED, MISSING, SUSPENDED)


@dataclass(frozen=True)
class Health:
    """One verdict: ``status`` is one of :data:`STATUSES`; ``message`` says why, for people."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == HEALTHY


@dataclass
class Related:
    """Objects read beside the assessed one (only those :func:`gitkube.health.needs` names)."""

    pods: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, Any] | None = None
    replicasets: list[dict[str, Any]] = field(default_factory=list)
    # RFC 3339: container terminations that finished before this are history, not a crash loop
    # (a pod killed twice last week must not fail every later sync); "" counts them all
    since: str = ""


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def get_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type ``kind``, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None
