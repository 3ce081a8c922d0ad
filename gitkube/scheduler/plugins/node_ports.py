"""NodePorts: the host ports a pod asks for (``containers[].ports[].hostPort``) must be free
on the node. Two uses of a (protocol, port) conflict when their host IPs are equal or either
is ``0.0.0.0``, as the scheduler's ``HostPortInfo.CheckConflict`` decides. Pods without host
ports skip the filter. Registered by :mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitkube.scheduler.framework import CycleState, Status
from gitkube.scheduler.nodeinfo import HostPort, NodeInfo, PodInfo

__all__ = ["ERR_REASON", "NAME", "NodePorts", "conflicts", "new"]

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_ANY = "0.0.0.0"


def conflicts(wanted: Iterable[HostPort], used: Iterable[HostPort]) -> bool:
    used_list = list(used)
    for ip, proto, port in wanted:
        for uip, uproto, uport in used_list:
            if port == uport and proto == uproto and (ip == uip or ip == _ANY or uip == _ANY):
                return True
    return False


class NodePorts:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return Status.success() if pod.host_ports else Status.skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.used_ports or not conflicts(pod.host_ports, node.used_ports):
            return Status.success()
        return Status.unschedulable(ERR_REASON, plugin=NAME)


def new() -> NodePorts:
    return NodePorts()
