"""SelectorSpread (score): spread the pods of one controller (the ReplicaSet, StatefulSet,
Job ... named by the pod's controller ownerReference) across nodes.

The raw score of a node is how many of the controller's pods it already runs (assumed pods
included); normalization turns it around: ``100 * (max - count) / max``, every node 100
when none runs any. The cache keeps the per-controller counts per node, so scoring is O(1)
per node. Pods without a controller skip the plugin. Registered by
:mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from gitkube.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["NAME", "SelectorSpread", "new", "spread_scores"]

NAME = "SelectorSpread"


def spread_scores(counts: MutableMapping[str, int]) -> None:
    """Turn per-node pod counts into 0..100 scores, in place (fewer pods, higher score)."""
    highest = max(counts.values(), default=0)
    for name, count in counts.items():
        counts[name] = MAX_NODE_SCORE if highest == 0 else MAX_NODE_SCORE * (highest - count) // highest


class SelectorSpread:
    name = NAME

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        return Status.success() if pod.owner_uid else Status.skip()

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return node.owner_counts.get(pod.owner_uid, 0)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: MutableMapping[str, int]) -> None:
        spread_scores(scores)


def new() -> SelectorSpread:
    return SelectorSpread()
