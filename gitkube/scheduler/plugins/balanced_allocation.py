"""NodeResourcesBalancedAllocation (score): prefer nodes whose CPU and memory would be used
in equal fractions once the pod is placed, so neither runs out while the other idles.

Fractions are ``requested / allocatable`` (capped at 1) from the pods' actual requests; the
score is ``(1 - standard deviation of the fractions) * 100``, as kube-scheduler computes
it. Resources the node does not have are left out. Registered by
:mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

import math

from gitkube.scheduler.framework import MAX_NODE_SCORE, CycleState
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["NAME", "BalancedAllocation", "balanced_score", "new", "score_node"]

NAME = "NodeResourcesBalancedAllocation"


def balanced_score(fractions: list[float]) -> int:
    if not fractions:
        return 0
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    else:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


def score_node(pod: PodInfo, node: NodeInfo) -> int:
    alloc, used, req = node.allocatable, node.requested, pod.requests
    fractions: list[float] = []
    if alloc.milli_cpu:
        fractions.append(min(1.0, (used.milli_cpu + req.milli_cpu) / alloc.milli_cpu))
    if alloc.memory:
        fractions.append(min(1.0, (used.memory + req.memory) / alloc.memory))
    return balanced_score(fractions)


class BalancedAllocation:
    name = NAME

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return score_node(pod, node)


def new() -> BalancedAllocation:
    return BalancedAllocation()
