"""Ingress backends: a Service port resolved to the pod addresses requests go to.

Like ingress-nginx, the Ingress proxy connects to the ready endpoints directly (not through
the Service's cluster IP). :func:`resolve` looks a :class:`~gitkube.proxy.ingress.routing.BackendRef`
up in the Service and Endpoints caches and says what it finds: the service port's ready
backends, or why there are none (no such Service, no such port). :class:`BackendPool` keeps
one :class:`~gitkube.proxy.balancer.Balancer` per backend reference across route-table
rebuilds, so the round robin keeps turning when endpoints change. An ``ExternalName``
Service is one backend: its DNS name and the port number.

Pure apart from the caches passed in; used by :mod:`gitkube.proxy.ingress.proxy` and
:mod:`gitkube.proxy.ingress.forward`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.proxy.balancer import Backend, Balancer, backends_for_port
from gitkube.proxy.ingress.routing import BackendRef

__all__ = ["BackendPool", "Resolution", "resolve"]

Obj = Mapping[str, Any]
Lookup = Callable[[str], Obj | None]  # "namespace/name" -> cached object


@dataclass(frozen=True)
class Resolution:
    """The ready backends of a reference, or ``problem`` (an Event message) when it cannot be served."""

    backends: tuple[Backend, ...] = ()
    problem: str = ""
    reason: str = ""


def _service_port(service: Obj, ref: BackendRef) -> Obj | None:
    for port in (service.get("spec") or {}).get("ports") or []:
        if ref.port_name and (port.get("name") or "") == ref.port_name:
            return dict(port)
        if ref.port and port.get("port") == ref.port:
            return dict(port)
    return None


def resolve(ref: BackendRef, services: Lookup, endpoints: Lookup) -> Resolution:
    """Where requests for ``ref`` go, from the Service and Endpoints caches."""
    key = f"{ref.namespace}/{ref.service}"
    service = services(key)
    if service is None:
        return Resolution(problem=f'service "{key}" not found', reason="ServiceNotFound")
    spec = service.get("spec") or {}
    port = _service_port(service, ref)
    if spec.get("type") == "ExternalName":
        number = ref.port or (port.get("port") if port else None)
        if not isinstance(number, int) or not spec.get("externalName"):
            return Resolution(problem=f'service "{key}" has no port {ref.port_name or ref.port}',
                              reason="ServicePortNotFound")
        return Resolution((Backend(str(spec["externalName"]), number),))
    if port is None:
        return Resolution(problem=f'service "{key}" has no port {ref.port_name or ref.port}',
                          reason="ServicePortNotFound")
    tcp = [p for p in spec.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
    found = backends_for_port(endpoints(key), str(port.get("name") or ""), only_port=len(tcp) == 1)
    return Resolution(tuple(found))


class BackendPool:
    """One balancer per backend reference, kept across rebuilds; the problems of the others."""

    def __init__(self) -> None:
        self._balancers: dict[BackendRef, Balancer] = {}
        self._problems: dict[BackendRef, Resolution] = {}

    def update(self, refs: Iterable[BackendRef], services: Lookup, endpoints: Lookup) -> dict[BackendRef, Resolution]:
        """Re-resolve every reference in ``refs`` (others are dropped); returns the unservable ones."""
        wanted = set(refs)
        problems: dict[BackendRef, Resolution] = {}
        for ref in wanted:
            resolution = resolve(ref, services, endpoints)
            if resolution.problem:
                problems[ref] = resolution
                self._balancers.pop(ref, None)
                continue
            balancer = self._balancers.get(ref)
            if balancer is None:
                self._balancers[ref] = Balancer(resolution.backends)
            else:
                balancer.update(resolution.backends)
        for ref in [r for r in self._balancers if r not in wanted]:
            del self._balancers[ref]
        self._problems = problems
        return problems

    def balancer(self, ref: BackendRef) -> Balancer | None:
        """The balancer of a servable reference (possibly without ready backends), else None."""
        return self._balancers.get(ref)

    def problem(self, ref: BackendRef) -> str:
        """Why ``ref`` cannot be served ("" when it can, or when it is unknown)."""
        found = self._problems.get(ref)
        return found.problem if found else ""
