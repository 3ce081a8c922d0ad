"""ClusterIP allocation for Services from a loopback range.

Every Service of type ClusterIP, NodePort or LoadBalancer gets a virtual IP from the
service CIDR (default ``127.96.0.0/16``: extra loopback addresses bind without any setup
on Linux, DESIGN.md §4, so the service proxy can listen on each VIP directly). The first
usable address is kept for the ``kubernetes`` Service, as Kubernetes does.

The allocator is rebuilt from the stored Services at start (``load``), so it needs no
state of its own. Called by the registry on Service create, update and delete.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable

from gitkube import errors

__all__ = ["ClusterIPAllocator"]


class ClusterIPAllocator:
    def __init__(self, cidr: str = "127.96.0.0/16") -> None:
        try:
            self.network = ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise errors.ConfigError(f"--service-cidr {cidr!r}: {exc}") from exc
        if self.network.num_addresses < 8:
            raise errors.ConfigError(f"--service-cidr {cidr!r}: the range is too small")
        self._used: set[str] = set()
        self._rng = random.Random()

    @property
    def first(self) -> str:
        """The address reserved for the ``kubernetes`` Service."""
        return str(self.network.network_address + 1)

    def load(self, ips: Iterable[str]) -> None:
        self._used.update(ip for ip in ips if ip and ip != "None")

    def _usable(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return addr in self.network and addr not in (self.network.network_address, self.network.broadcast_address)

    def allocate(self, requested: str | None = None, *, dry_run: bool = False) -> str:
        """Reserve ``requested`` or a random free address; Invalid if taken or out of range."""
        if requested:
            try:
                ok = self._usable(requested)
            except ValueError:
                ok = False
            if not ok:
                raise errors.Invalid(
                    f'spec.clusterIPs: Invalid value: ["{requested}"]: failed to allocate IP {requested}: '
                    f"the provided IP ({requested}) is not in the valid range. The range of valid IPs is {self.network}",
                    causes=[errors.Cause("spec.clusterIPs", f'Invalid value: ["{requested}"]: not in the valid range {self.network}')],
                )
            if requested in self._used:
                raise errors.Invalid(
                    f'spec.clusterIPs: Invalid value: ["{requested}"]: failed to allocate IP {requested}: provided IP is already allocated',
                    causes=[errors.Cause("spec.clusterIPs", f'Invalid value: ["{requested}"]: provided IP is already allocated')],
                )
            if not dry_run:
                self._used.add(requested)
            return requested
        size = self.network.num_addresses
        start = self._rng.randrange(2, size - 1)
        for offset in range(size):
            candidate = str(self.network.network_address + 2 + (start + offset) % (size - 3))
            if candidate not in self._used:
                if not dry_run:
                    self._used.add(candidate)
                return candidate
        raise errors.InternalError(f"failed to allocate a serviceIP: range {self.network} is full")

    def release(self, ip: str | None) -> None:
        if ip:
            self._used.discard(ip)
