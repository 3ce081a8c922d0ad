"""NodeAffinity: ``spec.nodeSelector`` and required node affinity (filter), preferred node
affinity (score).

A node fits when every nodeSelector label matches and, if
``requiredDuringSchedulingIgnoredDuringExecution`` is set, at least one of its
nodeSelectorTerms matches: a term ANDs its ``matchExpressions`` (In, NotIn, Exists,
DoesNotExist, Gt, Lt over labels) and ``matchFields`` (``metadata.name``); a term with
neither matches nothing (the predicates are :mod:`gitkube.api.scheduling`, shared with the
DaemonSet controller). The score sums the weights of the matching preferred terms,
normalized to 0..100. Registered by :mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from gitkube.api import scheduling
from gitkube.api.scheduling import match_requirement
from gitkube.scheduler import framework
from gitkube.scheduler.framework import CycleState, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["ERR_REASON_POD", "NAME", "NodeAffinity", "match_requirement", "match_term", "matches", "new"]

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"

Obj = dict[str, Any]


def match_term(term: Mapping[str, Any], node: NodeInfo) -> bool:
    return scheduling.match_term(term, node.name, node.labels)


def matches(pod: PodInfo, node: NodeInfo) -> bool:
    """Does the node satisfy the pod's nodeSelector and required node affinity?"""
    for k, v in pod.node_selector.items():
        if node.labels.get(k) != v:
            return False
    required = pod.affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    terms: Sequence[Obj] = required.get("nodeSelectorTerms") or []
    return any(match_term(t, node) for t in terms)


class NodeAffinity:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        if pod.node_selector or pod.affinity.get("requiredDuringSchedulingIgnoredDuringExecution") is not None:
            return Status.success()
        return Status.skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if matches(pod, node):
            return Status.success()
        return Status.unschedulable(ERR_REASON_POD, plugin=NAME, unresolvable=True)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        return Status.success() if pod.affinity.get("preferredDuringSchedulingIgnoredDuringExecution") else Status.skip()

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        total = 0
        for pref in pod.affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            weight = int(pref.get("weight") or 0)
            if weight and match_term(pref.get("preference") or {}, node):
                total += weight
        return total

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: MutableMapping[str, int]) -> None:
        framework.default_normalize_score(scores)


def new() -> NodeAffinity:
    return NodeAffinity()
