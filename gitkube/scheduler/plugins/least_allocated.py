"""NodeResourcesLeastAllocated (score): prefer the node with the most CPU and memory left
once the pod is placed, kube-scheduler's default ``LeastAllocated`` scoring strategy.

Per resource: ``(allocatable - requested) * 100 / allocatable`` (0 when over-committed),
where requested counts every pod on the node with the non-zero defaults (100m CPU, 200Mi
memory for containers that request nothing), so pods without requests still spread; the
node score is the weighted mean (cpu and memory weigh 1 each). Resources the node does not
have are left out. Registered by :mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from gitkube.scheduler.framework import MAX_NODE_SCORE, CycleState
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["NAME", "LeastAllocated", "least_requested_score", "new", "score_node"]

NAME = "NodeResourcesLeastAllocated"


def least_requested_score(requested: int, allocatable: int) -> int:
    if allocatable == 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_NODE_SCORE // allocatable


def score_node(pod: PodInfo, node: NodeInfo, cpu_weight: int = 1, memory_weight: int = 1) -> int:
    total = weights = 0
    alloc = node.allocatable
    if alloc.milli_cpu:
        total += cpu_weight * least_requested_score(node.non_zero_cpu + pod.non_zero_cpu, alloc.milli_cpu)
        weights += cpu_weight
    if alloc.memory:
        total += memory_weight * least_requested_score(node.non_zero_memory + pod.non_zero_memory, alloc.memory)
        weights += memory_weight
    return total // weights if weights else 0


class LeastAllocated:
    name = NAME

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return score_node(pod, node)


def new() -> LeastAllocated:
    return LeastAllocated()
