"""PersistentVolumeClaim health: Bound is Healthy, Lost is Degraded, Pending is Progressing. Pure."""

from __future__ import annotations

from typing import Any

from gitkube.health.model import DEGRADED, HEALTHY, PROGRESSING, Health, name_of

__all__ = ["assess_pvc"]


def assess_pvc(pvc: dict[str, Any]) -> Health:
    name = name_of(pvc)
    phase = (pvc.get("status") or {}).get("phase") or "Pending"
    if phase == "Bound":
        return Health(HEALTHY, f"claim {name} is bound")
    if phase == "Lost":
        return Health(DEGRADED, f"claim {name} lost its volume")
    return Health(PROGRESSING, f"claim {name} is {phase.lower()}")
