"""Service health: an ``ExternalName`` Service or one without a selector is Healthy (nothing
to wait for); otherwise it is Healthy once its Endpoints hold at least one ready address, and
Progressing ("no ready endpoints") until then. Pure."""

from __future__ import annotations

from typing import Any

from gitkube.health.model import HEALTHY, PROGRESSING, Health, Related, name_of

__all__ = ["assess_service", "ready_addresses"]


def ready_addresses(endpoints: dict[str, Any] | None) -> int:
    if not endpoints:
        return 0
    return sum(len(s.get("addresses") or ()) for s in endpoints.get("subsets") or () if isinstance(s, dict))


def assess_service(svc: dict[str, Any], related: Related) -> Health:
    name = name_of(svc)
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return Health(HEALTHY, f"service {name} is an external name")
    if not spec.get("selector"):
        return Health(HEALTHY, f"service {name} has no selector")
    count = ready_addresses(related.endpoints)
    if count == 0:
        return Health(PROGRESSING, f"service {name}: no ready endpoints")
    return Health(HEALTHY, f"service {name}: {count} ready endpoints")
