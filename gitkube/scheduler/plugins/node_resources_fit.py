"""NodeResourcesFit: the pod's requests must fit in what the node has left.

``insufficient(pod, node)`` lists Kubernetes' reasons in its order: "Too many pods" when
the node already runs ``allocatable.pods`` pods, then "Insufficient cpu", "Insufficient
memory", "Insufficient ephemeral-storage" and "Insufficient <extended resource>". Requests
count pods assumed but not yet bound, so back-to-back pods see each other. A rejection is
UnschedulableAndUnresolvable when the pod asks for more than the node's whole allocatable
(no preemption could help), else Unschedulable. Registered by
:mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from gitkube.scheduler.framework import CycleState, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["NAME", "NodeResourcesFit", "insufficient", "new"]

NAME = "NodeResourcesFit"


def insufficient(pod: PodInfo, node: NodeInfo) -> list[tuple[str, bool]]:
    """(reason, unresolvable) for every resource the node lacks for the pod."""
    out: list[tuple[str, bool]] = []
    if len(node.pods) + 1 > node.allowed_pods:
        out.append(("Too many pods", False))
    req = pod.requests
    if req.is_zero():
        return out
    alloc, used = node.allocatable, node.requested
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        out.append(("Insufficient cpu", req.milli_cpu > alloc.milli_cpu))
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        out.append(("Insufficient memory", req.memory > alloc.memory))
    if req.ephemeral > 0 and req.ephemeral > alloc.ephemeral - used.ephemeral:
        out.append(("Insufficient ephemeral-storage", req.ephemeral > alloc.ephemeral))
    for name, want in req.scalars.items():
        if want <= 0:
            continue
        have = alloc.scalars.get(name, 0)
        if want > have - used.scalars.get(name, 0):
            out.append((f"Insufficient {name}", want > have))
    return out


class NodeResourcesFit:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        missing = insufficient(pod, node)
        if not missing:
            return Status.success()
        return Status.unschedulable(*(r for r, _ in missing), plugin=NAME,
                                    unresolvable=any(u for _, u in missing))


def new() -> NodeResourcesFit:
    return NodeResourcesFit()
