"""HorizontalPodAutoscaler health, from its conditions as Argo CD reads them.

Degraded when ``AbleToScale`` is false or ``ScalingActive`` is false for a failure (reasons
``Failed...``/``Invalid...``: the metrics cannot be read, the target is missing); Suspended when
scaling is disabled (``ScalingDisabled``: the target has zero replicas); Progressing before the
controller's first reading (no conditions yet); otherwise Healthy. Pure.
"""

from __future__ import annotations

from typing import Any

from gitkube.health.model import DEGRADED, HEALTHY, PROGRESSING, SUSPENDED, Health, condition, name_of

__all__ = ["assess_hpa"]


def assess_hpa(hpa: dict[str, Any]) -> Health:
    name = name_of(hpa)
    if not (hpa.get("status") or {}).get("conditions"):
        return Health(PROGRESSING, f"autoscaler {name} is waiting for its first metrics")
    able = condition(hpa, "AbleToScale")
    if able is not None and able.get("status") == "False":
        return Health(DEGRADED, f"autoscaler {name} cannot scale: {able.get('message') or able.get('reason')}")
    active = condition(hpa, "ScalingActive")
    if active is not None and active.get("status") == "False":
        reason = str(active.get("reason") or "")
        why = active.get("message") or reason
        if reason == "ScalingDisabled":
            return Health(SUSPENDED, f"autoscaler {name}: {why}")
        if reason.startswith(("Failed", "Invalid")):
            return Health(DEGRADED, f"autoscaler {name}: {why}")
    return Health(HEALTHY, f"autoscaler {name} is active")
