"""NodeUnschedulable: a node with ``spec.unschedulable`` (``kubectl cordon``) takes no new
pods, unless the pod tolerates the ``node.kubernetes.io/unschedulable:NoSchedule`` taint
(as DaemonSet pods do). Filter only. Registered by :mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from gitkube.api import labels
from gitkube.scheduler.framework import CycleState, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo
from gitkube.scheduler.plugins import taint_toleration

__all__ = ["ERR_REASON_UNSCHEDULABLE", "NAME", "NodeUnschedulable", "new", "tolerates_unschedulable"]

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
_TAINT = {"key": labels.TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}


def tolerates_unschedulable(pod: PodInfo) -> bool:
    return any(taint_toleration.tolerates(t, _TAINT) for t in pod.tolerations)


class NodeUnschedulable:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.unschedulable or tolerates_unschedulable(pod):
            return Status.success()
        return Status.unschedulable(ERR_REASON_UNSCHEDULABLE, plugin=NAME, unresolvable=True)


def new() -> NodeUnschedulable:
    return NodeUnschedulable()
