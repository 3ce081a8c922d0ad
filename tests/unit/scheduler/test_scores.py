"""Table-driven tests of the score plugins and of score normalization."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.scheduler import framework
from gitkube.scheduler.framework import CycleState
from gitkube.scheduler.nodeinfo import PodInfo
from gitkube.scheduler.plugins import (
    balanced_allocation,
    least_allocated,
    node_affinity,
    selector_spread,
    taint_toleration,
)

from .builders import node, node_info, pod


@pytest.mark.parametrize(("p", "n", "on_node", "want"), [
    # cpu: (4000-1000)*100/4000 = 75; memory: (8Gi-1Gi)*100/8Gi = 87 -> (75+87)//2
    (pod(cpu="1", memory="1Gi"), node(cpu="4", memory="8Gi"), [], (75 + 87) // 2),
    (pod(cpu="1", memory="1Gi"), node(cpu="4", memory="8Gi"), [pod("a", cpu="2", memory="3Gi")], (25 + 50) // 2),
    # no requests: the non-zero defaults (100m, 200Mi) count
    (pod(), node(cpu="1", memory="1000Mi"), [], (90 + 80) // 2),
    (pod(cpu="8"), node(cpu="4"), [], (0 + 97) // 2),
])
def test_least_allocated(p: Any, n: Any, on_node: Any, want: Any) -> None:
    assert least_allocated.new().score(CycleState(), PodInfo.of(p), node_info(n, *on_node)) == want


@pytest.mark.parametrize(("p", "n", "want"), [
    (pod(cpu="2", memory="4Gi"), node(cpu="4", memory="8Gi"), 100),  # both half used
    (pod(cpu="4", memory="0"), node(cpu="4", memory="8Gi"), 50),  # fractions 1 and 0
    (pod(cpu="1", memory="4Gi"), node(cpu="4", memory="8Gi"), 87),  # |0.25-0.5|/2 = 0.125
])
def test_balanced_allocation(p: Any, n: Any, want: Any) -> None:
    assert balanced_allocation.new().score(CycleState(), PodInfo.of(p), node_info(n)) == want


def test_balanced_score_three_resources() -> None:
    assert balanced_allocation.balanced_score([0.5, 0.5, 0.5]) == 100
    assert balanced_allocation.balanced_score([]) == 0


@pytest.mark.parametrize(("scores", "reverse", "want"), [
    ({"a": 0, "b": 0}, False, {"a": 0, "b": 0}),
    ({"a": 0, "b": 0}, True, {"a": 100, "b": 100}),
    ({"a": 1, "b": 4}, False, {"a": 25, "b": 100}),
    ({"a": 1, "b": 4}, True, {"a": 75, "b": 0}),
])
def test_default_normalize(scores: Any, reverse: Any, want: Any) -> None:
    framework.default_normalize_score(scores, reverse=reverse)
    assert scores == want


def test_taint_toleration_score_prefers_fewer_untolerated_soft_taints() -> None:
    plugin = taint_toleration.new()
    soft = {"key": "soft", "effect": "PreferNoSchedule"}
    other = {"key": "other", "effect": "PreferNoSchedule"}
    nodes = [node_info(node("a")), node_info(node("b", taints=[soft])), node_info(node("c", taints=[soft, other]))]
    p = PodInfo.of(pod(tolerations=[{"key": "other", "operator": "Exists"}]))
    state = CycleState()
    assert plugin.pre_score(state, p, nodes).is_success
    scores = {n.name: plugin.score(state, p, n) for n in nodes}
    assert scores == {"a": 0, "b": 1, "c": 1}
    plugin.normalize_score(state, p, scores)
    assert scores == {"a": 100, "b": 0, "c": 0}
    assert plugin.pre_score(CycleState(), p, nodes[:1]).is_skip


def test_node_affinity_preferred_score() -> None:
    plugin = node_affinity.new()
    p = PodInfo.of(pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 30, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
    ]}}))
    nodes = [node_info(node("x", labels={"disk": "ssd"})), node_info(node("y", labels={"disk": "ssd", "zone": "a"})),
             node_info(node("z"))]
    state = CycleState()
    assert plugin.pre_score(state, p, nodes).is_success
    scores = {n.name: plugin.score(state, p, n) for n in nodes}
    assert scores == {"x": 10, "y": 40, "z": 0}
    plugin.normalize_score(state, p, scores)
    assert scores == {"x": 25, "y": 100, "z": 0}
    assert plugin.pre_score(CycleState(), PodInfo.of(pod()), nodes).is_skip


def test_selector_spread_counts_the_controllers_pods() -> None:
    plugin = selector_spread.new()
    mine = [pod(f"m{i}", owner="rs1") for i in range(3)]
    nodes = [node_info(node("a"), mine[0], mine[1]), node_info(node("b"), mine[2], pod("o", owner="rs2")),
             node_info(node("c"), pod("o2", owner="rs2"))]
    p = PodInfo.of(pod("new", owner="rs1"))
    state = CycleState()
    assert plugin.pre_score(state, p, nodes).is_success
    scores = {n.name: plugin.score(state, p, n) for n in nodes}
    assert scores == {"a": 2, "b": 1, "c": 0}
    plugin.normalize_score(state, p, scores)
    assert scores == {"a": 0, "b": 50, "c": 100}
    assert plugin.pre_score(CycleState(), PodInfo.of(pod("bare")), nodes).is_skip
