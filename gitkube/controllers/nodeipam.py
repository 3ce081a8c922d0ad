"""Node IPAM ("node-ipam-controller"): the range allocator of kube-controller-manager's
``pkg/controller/nodeipam``.

Every Node without ``spec.podCIDR`` gets the next free subnet (``/24`` by default) of the
cluster pod CIDR (default ``127.64.0.0/10``, a loopback range, so each pod's address binds
without setup), written to ``spec.podCIDR`` and ``spec.podCIDRs``. The first subnet
(``127.64.0.0/24``) is never handed out. Ranges in use are derived from the Nodes
themselves, so a restarted controller (or daemon) needs no state of its own. Started by
the ControllerManager.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from gitkube import errors
from gitkube.client import Client, Handler, Informer
from gitkube.controllers.base import Controller

__all__ = ["CIDRAllocator", "NodeIpamController"]

log = logging.getLogger(__name__)


class CIDRAllocator:
    """Subnets of ``cluster_cidr`` with prefix ``mask_size``, numbered from 0."""

    def __init__(self, cluster_cidr: str = "127.64.0.0/10", mask_size: int = 24) -> None:
        try:
            self.network = ipaddress.IPv4Network(cluster_cidr)
        except ValueError as exc:
            raise errors.ConfigError(f"--cluster-cidr {cluster_cidr!r}: {exc}") from exc
        if not self.network.prefixlen < mask_size <= 32:
            raise errors.ConfigError(f"--node-cidr-mask-size {mask_size}: must be longer than the cluster CIDR's "
                                     f"/{self.network.prefixlen} and at most 32")
        self.mask_size = mask_size
        self.size = 1 << (mask_size - self.network.prefixlen)

    def index_of(self, cidr: str) -> int | None:
        """The subnet number of ``cidr``, or None when it is not one of ours."""
        try:
            net = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError:
            return None
        if net.prefixlen != self.mask_size or not net.subnet_of(self.network):
            return None
        return (int(net.network_address) - int(self.network.network_address)) >> (32 - self.mask_size)

    def subnet(self, index: int) -> str:
        base = int(self.network.network_address) + (index << (32 - self.mask_size))
        return f"{ipaddress.IPv4Address(base)}/{self.mask_size}"

    def first_free(self, used: set[int]) -> str | None:
        """The lowest free subnet, skipping subnet 0."""
        for index in range(1, self.size):
            if index not in used:
                return self.subnet(index)
        return None


class NodeIpamController(Controller):
    name = "node-ipam-controller"
    workers = 1  # allocation reads then writes the set of used ranges

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 cluster_cidr: str = "127.64.0.0/10", node_cidr_mask_size: int = 24) -> None:
        super().__init__(client, informers=informers)
        self.allocator = CIDRAllocator(cluster_cidr, node_cidr_mask_size)
        self.nodes = self.informer("nodes")
        self._assigned: dict[str, str] = {}  # written but perhaps not yet in the cache
        self.nodes.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                       on_delete=self._node_deleted))

    def _node_deleted(self, node: dict[str, Any]) -> None:
        self._assigned.pop(str((node.get("metadata") or {}).get("name")), None)
        for waiting in self.nodes.list():  # a range came free
            if not (waiting.get("spec") or {}).get("podCIDR"):
                self.enqueue(waiting)

    def _used(self) -> set[int]:
        used: set[int] = set()
        cidrs = list(self._assigned.values())
        for node in self.nodes.list():
            spec = node.get("spec") or {}
            cidrs.extend(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        for cidr in cidrs:
            index = self.allocator.index_of(str(cidr))
            if index is not None:
                used.add(index)
        return used

    async def sync(self, key: str) -> None:
        node = self.nodes.get(None, key)
        if node is None:
            self._assigned.pop(key, None)
            return
        if (node.get("spec") or {}).get("podCIDR"):
            self._assigned.pop(key, None)
            return
        if key in self._assigned:
            cidr: str | None = self._assigned[key]
        else:
            cidr = self.allocator.first_free(self._used())
        if cidr is None:
            self.events.record(node, "Normal", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
            raise errors.InternalError(f"failed to allocate cidr from cluster cidr "
                                            f"{self.allocator.network}: CIDR allocation failed; there are no "
                                            "remaining CIDRs left to allocate in the accepted range")
        self._assigned[key] = cidr
        try:
            await self.client.patch("nodes", key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except errors.NotFound:
            self._assigned.pop(key, None)
            return
        except errors.APIError as exc:
            self._assigned.pop(key, None)
            self.events.record(node, "Normal", "CIDRAssignmentFailed", f"Node {key} status is now: CIDRAssignmentFailed")
            log.info("%s: cannot set podCIDR %s on node %s: %s", self.name, cidr, key, exc)
            raise
        log.info("%s: node %s gets podCIDR %s", self.name, key, cidr)
