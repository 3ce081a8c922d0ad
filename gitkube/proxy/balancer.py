"""Endpoint selection for one Service port: round robin over the ready addresses, with
``sessionAffinity: ClientIP`` stickiness (kube-proxy's userspace ``LoadBalancerRR``).

:class:`Balancer` keeps the current ready backends of one service port. ``candidates``
returns every backend in the order a new connection should try them: the client's sticky
backend first when affinity is on and the stick is younger than ``timeoutSeconds``,
otherwise the next one in the rotation; the others follow so a failed connect can fall
through to the next ready endpoint. ``record`` marks the backend a client was connected to
(refreshing its stick). ``update`` swaps the ready set in place: connections already
established are untouched, sticks to removed backends are forgotten.

:func:`backends_for_port` reads the backends of a service port from an Endpoints object
(``subsets[].addresses`` only, never ``notReadyAddresses``). Pure; used by
:mod:`gitkube.proxy.listener` and :mod:`gitkube.proxy.proxy`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_AFFINITY_TIMEOUT", "Backend", "Balancer", "affinity_timeout", "backends_for_port"]

DEFAULT_AFFINITY_TIMEOUT = 10800.0
_PURGE_INTERVAL = 60.0


@dataclass(frozen=True, order=True)
class Backend:
    """One ready endpoint address and port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def affinity_timeout(service: Mapping[str, Any]) -> float | None:
    """The ClientIP stickiness of a Service in seconds, or ``None`` without affinity."""
    spec = service.get("spec") or {}
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    timeout = client_ip.get("timeoutSeconds")
    return float(timeout) if isinstance(timeout, int) and timeout > 0 else DEFAULT_AFFINITY_TIMEOUT


def backends_for_port(endpoints: Mapping[str, Any] | None, port_name: str, *, only_port: bool) -> list[Backend]:
    """The ready backends of the service port named ``port_name`` (``""`` when unnamed).

    The Endpoints port is matched by name, as the Endpoints controller names it after the
    service port; when the Service has a single port (``only_port``) a subset with a single
    port is taken whatever its name. Sorted and without duplicates.
    """
    if not endpoints:
        return []
    found: set[Backend] = set()
    for subset in endpoints.get("subsets") or []:
        ports = [p for p in subset.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
        match = [p for p in ports if (p.get("name") or "") == port_name]
        if not match and only_port and len(ports) == 1:
            match = ports
        if not match or not isinstance(match[0].get("port"), int):
            continue
        number = int(match[0]["port"])
        for address in subset.get("addresses") or []:
            ip = address.get("ip")
            if ip:
                found.add(Backend(str(ip), number))
    return sorted(found)


class Balancer:
    """Round robin over the ready backends of one service port, optionally sticky per client IP."""

    def __init__(self, backends: Iterable[Backend] = (), *, affinity: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._backends: tuple[Backend, ...] = ()
        self._next = 0
        self._affinity = affinity
        self._sticky: dict[str, tuple[Backend, float]] = {}
        self._last_purge = clock()
        self.update(backends)

    @property
    def backends(self) -> tuple[Backend, ...]:
        return self._backends

    @property
    def affinity(self) -> float | None:
        return self._affinity

    def __bool__(self) -> bool:
        return bool(self._backends)

    def update(self, backends: Iterable[Backend]) -> None:
        """Replace the ready set; new connections only go to these backends from now on."""
        fresh = tuple(dict.fromkeys(backends))
        if fresh == self._backends:
            return
        if self._backends and fresh:
            # Keep the rotation going from where it was rather than restarting at the first.
            current = self._backends[self._next % len(self._backends)]
            self._next = next((i for i, b in enumerate(fresh) if b >= current), 0)
        else:
            self._next = 0
        self._backends = fresh
        alive = set(fresh)
        self._sticky = {ip: stick for ip, stick in self._sticky.items() if stick[0] in alive}

    def set_affinity(self, timeout: float | None) -> None:
        """Turn ClientIP affinity on (``timeout`` seconds) or off (``None``)."""
        if timeout != self._affinity:
            self._affinity = timeout
            self._sticky.clear()

    def candidates(self, client_ip: str) -> list[Backend]:
        """Every ready backend, in the order a new connection from ``client_ip`` tries them."""
        n = len(self._backends)
        if n == 0:
            return []
        if self._affinity is not None:
            now = self._clock()
            if now - self._last_purge > _PURGE_INTERVAL:
                self._purge(now)
            stick = self._sticky.get(client_ip)
            if stick is not None and now - stick[1] <= self._affinity:
                first = stick[0]
                return [first, *(b for b in self._rotation(self._next) if b != first)]
        start = self._next % n
        self._next = (start + 1) % n
        return self._rotation(start)

    def record(self, client_ip: str, backend: Backend) -> None:
        """``client_ip`` is now connected to ``backend``: stick to it (when affinity is on)."""
        if self._affinity is not None and backend in self._backends:
            self._sticky[client_ip] = (backend, self._clock())

    def sticky(self, client_ip: str) -> Backend | None:
        """The live stick of ``client_ip``, if any."""
        stick = self._sticky.get(client_ip)
        if stick is None or self._affinity is None or self._clock() - stick[1] > self._affinity:
            return None
        return stick[0]

    def _rotation(self, start: int) -> list[Backend]:
        n = len(self._backends)
        return [self._backends[(start + i) % n] for i in range(n)]

    def _purge(self, now: float) -> None:
        assert self._affinity is not None
        limit = self._affinity
        self._sticky = {ip: s for ip, s in self._sticky.items() if now - s[1] <= limit}
        self._last_purge = now
