"""NodeName: a pod that names its node (``spec.nodeName``) fits only that node. Pods the
scheduler takes have no node name, so the pre-filter skips the check for them; the plugin
matters when a caller filters a pod that already names one. Registered by
:mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from gitkube.scheduler.framework import CycleState, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["ERR_REASON", "NAME", "NodeName", "fits", "new"]

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    wanted = (pod.pod.get("spec") or {}).get("nodeName")
    return not wanted or wanted == node.name


class NodeName:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return Status.success() if (pod.pod.get("spec") or {}).get("nodeName") else Status.skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if fits(pod, node):
            return Status.success()
        return Status.unschedulable(ERR_REASON, plugin=NAME, unresolvable=True)


def new() -> NodeName:
    return NodeName()
