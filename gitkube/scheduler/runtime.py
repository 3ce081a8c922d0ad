"""Running the plugins for one pod: the part of kube-scheduler's ``schedule_one.go`` that
picks a node, without any I/O.

``Framework`` sorts plugins by the extension points they implement. ``schedule_pod``:

1. pre-filter (plugins may skip themselves for this pod);
2. filter the nodes, starting where the previous cycle stopped, until enough feasible
   nodes are found (all of them below 100 nodes; an adaptive share above, as
   ``numFeasibleNodesToFind``); the first rejecting filter gives a node its status;
3. no feasible node: a :class:`~gitkube.scheduler.framework.FitError`; one: take it;
4. otherwise pre-score, score, normalize each plugin's scores to 0..100, weight and sum,
   and pick the highest, ties broken at random (``selectHost``'s reservoir sampling).

Called by :class:`gitkube.scheduler.scheduler.Scheduler` with the cache's node list.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gitkube.scheduler import framework
from gitkube.scheduler.framework import CycleState, FitError, Status
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["Decision", "Framework", "num_feasible_nodes_to_find", "schedule_pod"]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes are enough (kube-scheduler's adaptive default at 0)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(MIN_FEASIBLE_NODES_PERCENTAGE, 50 - num_all_nodes // 125)
    if percentage >= 100:
        return num_all_nodes
    return max(MIN_FEASIBLE_NODES_TO_FIND, num_all_nodes * percentage // 100)


class Framework:
    """Plugins grouped by extension point, with score weights."""

    def __init__(self, plugins: Sequence[framework.Plugin], weights: Mapping[str, int] | None = None) -> None:
        self.plugins = list(plugins)
        self.weights = dict(weights or {})
        self.pre_filter = [p for p in plugins if isinstance(p, framework.PreFilterPlugin)]
        self.filters = [p for p in plugins if isinstance(p, framework.FilterPlugin)]
        self.pre_score = [p for p in plugins if isinstance(p, framework.PreScorePlugin)]
        self.scores = [p for p in plugins if isinstance(p, framework.ScorePlugin)]
        self.normalizers: dict[str, framework.NormalizeScorePlugin] = {
            p.name: p for p in plugins if isinstance(p, framework.NormalizeScorePlugin)}

    def run_pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[Status, set[str]]:
        """The first rejecting status (else success) and the plugins that skipped."""
        skipped: set[str] = set()
        for p in self.pre_filter:
            status = p.pre_filter(state, pod)
            if status.is_skip:
                skipped.add(p.name)
            elif not status.is_success:
                return Status(status.code, status.reasons, status.plugin or p.name), skipped
        return Status.success(), skipped

    def filter_funcs(self, skipped: set[str]) -> list[Callable[[CycleState, PodInfo, NodeInfo], Status]]:
        return [p.filter for p in self.filters if p.name not in skipped]

    def run_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> dict[str, int]:
        """Weighted sum of the normalized scores of every plugin, per node name."""
        skipped = {p.name for p in self.pre_score if p.pre_score(state, pod, nodes).is_skip}
        totals = dict.fromkeys((n.name for n in nodes), 0)
        for p in self.scores:
            if p.name in skipped:
                continue
            weight = self.weights.get(p.name, 1)
            score = p.score
            scores = {n.name: score(state, pod, n) for n in nodes}
            normalizer = self.normalizers.get(p.name)
            if normalizer is not None:
                normalizer.normalize_score(state, pod, scores)
            for name, s in scores.items():
                totals[name] += max(0, min(framework.MAX_NODE_SCORE, s)) * weight
        return totals


@dataclass
class Decision:
    """The outcome of one cycle: a node, or why none."""

    node: str = ""
    fit_error: FitError | None = None
    evaluated: int = 0
    feasible: int = 0
    scores: dict[str, int] = field(default_factory=dict)


def _select_host(scores: Mapping[str, int], rng: random.Random) -> str:
    best = ""
    best_score = -1
    ties = 0
    for name, s in scores.items():
        if s > best_score:
            best, best_score, ties = name, s, 1
        elif s == best_score:
            ties += 1
            if rng.randrange(ties) == 0:
                best = name
    return best


def schedule_pod(fw: Framework, pod: PodInfo, nodes: Sequence[NodeInfo], *, rng: random.Random,
                 start: int = 0, percentage: int = 0) -> Decision:
    """Pick a node for ``pod`` among ``nodes`` (filter from index ``start``)."""
    state = CycleState()
    total = len(nodes)
    status, skipped = fw.run_pre_filter(state, pod)
    if not status.is_success:
        return Decision(fit_error=FitError(total, {n.name: status for n in nodes},
                                           _preemption_policy(pod)), evaluated=total)
    wanted = num_feasible_nodes_to_find(total, percentage)
    filters = fw.filter_funcs(skipped)
    feasible: list[NodeInfo] = []
    statuses: dict[str, Status] = {}
    evaluated = 0
    for i in range(total):
        node = nodes[(start + i) % total]
        evaluated += 1
        for f in filters:
            st = f(state, pod, node)
            if not st.is_success:
                statuses[node.name] = st
                break
        else:
            feasible.append(node)
            if len(feasible) >= wanted:
                break
    if not feasible:
        return Decision(fit_error=FitError(total, statuses, _preemption_policy(pod)), evaluated=evaluated)
    if len(feasible) == 1:
        return Decision(node=feasible[0].name, evaluated=evaluated, feasible=1)
    scores = fw.run_score(state, pod, feasible)
    return Decision(node=_select_host(scores, rng), evaluated=evaluated, feasible=len(feasible), scores=scores)


def _preemption_policy(pod: PodInfo) -> str:
    return str((pod.pod.get("spec") or {}).get("preemptionPolicy") or "PreemptLowerPriority")
