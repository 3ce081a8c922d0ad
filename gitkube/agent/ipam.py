"""Pod IP addresses from the node's ``spec.podCIDR`` (the host-local IPAM plugin's job).

Pods share the host network; each gets its own loopback address (127.x, which binds
without setup) as ``status.podIP``. ``PodIPAM`` hands out distinct addresses of the CIDR,
keeps each in ``DATA/pods/<dir>/pod-ip`` so an agent restart finds it again, and re-learns
addresses from pod statuses (``observe``) so a restarted agent never hands one out twice.
Used by ``gitkube.agent.agent`` and ``gitkube.agent.podworker``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from gitkube import errors

__all__ = ["PodIPAM"]

_FILE = "pod-ip"


class PodIPAM:
    def __init__(self, cidr: str) -> None:
        try:
            self.network = ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise errors.ConfigError(f"spec.podCIDR {cidr!r}: {exc}") from exc
        self._by_uid: dict[str, str] = {}
        self._next = 2  # .1 is the gateway in Kubernetes' host-local layout

    def observe(self, uid: str, ip: str) -> None:
        """Record an address already in use by pod ``uid`` (from its status or file)."""
        try:
            if ip and ipaddress.ip_address(ip) in self.network:
                self._by_uid[uid] = ip
        except ValueError:
            pass

    def get(self, uid: str) -> str | None:
        return self._by_uid.get(uid)

    def allocate(self, uid: str, pod_dir: Path | None = None) -> str:
        """The address of pod ``uid``: the one it has, the one in its pod dir, or a free one."""
        if uid in self._by_uid:
            return self._by_uid[uid]
        if pod_dir is not None and (pod_dir / _FILE).is_file():
            self.observe(uid, (pod_dir / _FILE).read_text().strip())
            if uid in self._by_uid:
                return self._by_uid[uid]
        used = set(self._by_uid.values())
        size = self.network.num_addresses
        for step in range(size):
            offset = (self._next + step) % size
            if offset in (0, 1) or (offset == size - 1 and size > 2):
                continue
            ip = str(self.network.network_address + offset)
            if ip not in used:
                self._next = offset + 1
                self._by_uid[uid] = ip
                if pod_dir is not None:
                    pod_dir.mkdir(parents=True, exist_ok=True)
                    (pod_dir / _FILE).write_text(ip + "\n")
                return ip
        raise errors.RuntimeFailure(f"failed to allocate a pod IP: range {self.network} is exhausted",
                                    reason="FailedCreatePodSandBox")

    def release(self, uid: str, pod_dir: Path | None = None) -> None:
        self._by_uid.pop(uid, None)
        if pod_dir is not None:
            (pod_dir / _FILE).unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._by_uid)
