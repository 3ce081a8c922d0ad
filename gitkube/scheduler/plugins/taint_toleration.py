"""TaintToleration: a node's NoSchedule/NoExecute taints must be tolerated by the pod
(filter); untolerated PreferNoSchedule taints lower the node's score.

The toleration matching rules live in :mod:`gitkube.api.scheduling` (shared with the DaemonSet
controller); ``tolerates`` is re-exported here for NodeUnschedulable. Registered by :mod:`gitkube.scheduler.registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from gitkube.api import scheduling
from gitkube.api.scheduling import tolerates
from gitkube.scheduler import framework
from gitkube.scheduler.framework import CycleState, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["NAME", "TaintToleration", "find_untolerated_taint", "new", "tolerates", "untolerated_message"]

NAME = "TaintToleration"
_FILTER_EFFECTS = ("NoSchedule", "NoExecute")
_PREFERRED_KEY = f"{NAME}/preferred-tolerations"

Obj = dict[str, Any]


def find_untolerated_taint(taints: Iterable[Obj], tolerations: Iterable[Obj],
                           effects: tuple[str, ...] = _FILTER_EFFECTS) -> Obj | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    found = scheduling.find_untolerated_taint(taints, tolerations, effects)
    return dict(found) if found is not None else None


def untolerated_message(taint: Obj) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


class TaintToleration:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.taints:
            return Status.success()
        taint = find_untolerated_taint(node.taints, pod.tolerations)
        if taint is None:
            return Status.success()
        return Status.unschedulable(untolerated_message(taint), plugin=NAME, unresolvable=True)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        if not any(t.get("effect") == "PreferNoSchedule" for n in nodes for t in n.taints):
            return Status.skip()
        preferred = tuple(t for t in pod.tolerations if (t.get("effect") or "") in ("", "PreferNoSchedule"))
        state.write(_PREFERRED_KEY, preferred)
        return Status.success()

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tols: tuple[Obj, ...] = state.read(_PREFERRED_KEY, ())
        return sum(1 for taint in node.taints if taint.get("effect") == "PreferNoSchedule"
                   and not any(tolerates(t, taint) for t in tols))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: MutableMapping[str, int]) -> None:
        framework.default_normalize_score(scores, reverse=True)


def new() -> TaintToleration:
    return TaintToleration()
