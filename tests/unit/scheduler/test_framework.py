"""FitError messages, pod requests, the registry and one scheduling cycle (runtime)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gitkube.scheduler import registry, runtime
from gitkube.scheduler.framework import Code, FitError, Status
from gitkube.scheduler.nodeinfo import DEFAULT_MEMORY_REQUEST, PodInfo, Resource, pod_requests

from .builders import node, node_info, pod

TAINTED = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",))
NO_CPU = Status(Code.UNSCHEDULABLE, ("Insufficient cpu",))


def test_fit_error_message_matches_kubernetes() -> None:
    err = FitError(3, {"a": TAINTED, "b": NO_CPU, "c": NO_CPU})
    assert err.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.")
    unresolvable = FitError(3, dict.fromkeys("abc", Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                                          ("node(s) didn't match Pod's node affinity/selector",))))
    assert str(unresolvable) == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    both = FitError(1, {"a": Status(Code.UNSCHEDULABLE, ("Insufficient cpu", "Insufficient memory"))},
                    preemption_policy="Never")
    assert both.message == ("0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
                            "preemption: not eligible due to preemptionPolicy=Never.")


def test_reasons_sort_as_strings_like_kubernetes() -> None:
    statuses = {f"n{i}": NO_CPU for i in range(10)}
    statuses["t"] = TAINTED
    assert FitError(11, statuses).filter_message() == (
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 10 Insufficient cpu")


def test_pod_requests_sum_containers_max_init_and_overhead() -> None:
    p = pod(cpu="500m", memory="1Gi")
    p["spec"]["containers"].append({"name": "d", "image": "x", "resources": {"requests": {"cpu": "250m"}}})
    p["spec"]["initContainers"] = [
        {"name": "i1", "image": "x", "resources": {"requests": {"cpu": "1", "memory": "100Mi"}}},
        {"name": "side", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
    ]
    p["spec"]["overhead"] = {"cpu": "10m"}
    # containers 750m + sidecar 100m = 850m < init 1000m -> 1000m, + overhead 10m
    assert pod_requests(p) == Resource(milli_cpu=1010, memory=1024**3)
    info = PodInfo.of(p)
    assert info.non_zero_cpu == 1010
    # non-zero memory: c 1Gi + d (none: 200Mi) + sidecar (none: 200Mi) > init i1 100Mi
    assert info.non_zero_memory == 1024**3 + 2 * DEFAULT_MEMORY_REQUEST
    bare = PodInfo.of(pod())
    assert (bare.requests.is_zero(), bare.non_zero_cpu, bare.non_zero_memory) == (True, 100, DEFAULT_MEMORY_REQUEST)


def test_registry_rejects_duplicates_and_builds_in_order() -> None:
    reg = registry.default_registry()
    with pytest.raises(ValueError, match="already exists"):
        reg.register("NodeName", lambda: reg.build(["NodeName"])[0])
    plugins = reg.build(registry.DEFAULT_PLUGINS)
    assert [p.name for p in plugins] == list(registry.DEFAULT_PLUGINS)
    with pytest.raises(ValueError, match="does not exist"):
        reg.build(["Nope"])


def _framework() -> runtime.Framework:
    reg = registry.default_registry()
    return runtime.Framework(reg.build(registry.DEFAULT_PLUGINS), registry.DEFAULT_WEIGHTS)


def test_schedule_pod_picks_the_least_loaded_fitting_node() -> None:
    nodes = [node_info(node("busy", cpu="4"), pod("a", cpu="3")), node_info(node("idle", cpu="4")),
             node_info(node("small", cpu="500m"))]
    d = runtime.schedule_pod(_framework(), PodInfo.of(pod("p", cpu="1")), nodes, rng=random.Random(0))
    assert d.node == "idle"
    assert (d.evaluated, d.feasible) == (3, 2)
    assert d.scores["idle"] > d.scores["busy"]


def test_schedule_pod_reports_every_rejection() -> None:
    nodes = [node_info(node("a", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])),
             node_info(node("b", cpu="1")), node_info(node("c", cpu="1"))]
    d = runtime.schedule_pod(_framework(), PodInfo.of(pod("p", cpu="2")), nodes, rng=random.Random(0))
    assert d.node == "" and d.fit_error is not None
    assert d.fit_error.message.startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient cpu.")


def test_ties_are_broken_at_random() -> None:
    nodes = [node_info(node(f"n{i}")) for i in range(4)]
    picked = {runtime.schedule_pod(_framework(), PodInfo.of(pod()), nodes, rng=random.Random(seed)).node
              for seed in range(40)}
    assert picked == {"n0", "n1", "n2", "n3"}


@pytest.mark.parametrize(("nodes", "want"), [(10, 10), (99, 99), (100, 100), (1000, 420), (5000, 500),
                                             (6000, 300)])
def test_num_feasible_nodes_to_find(nodes: Any, want: Any) -> None:
    assert runtime.num_feasible_nodes_to_find(nodes) == want


def test_filtering_stops_early_and_rotates_on_large_clusters() -> None:
    nodes = [node_info(node(f"n{i:04d}")) for i in range(1000)]
    d = runtime.schedule_pod(_framework(), PodInfo.of(pod()), nodes, rng=random.Random(0), start=900)
    assert (d.evaluated, d.feasible) == (420, 420)
    assert d.node in {f"n{i:04d}" for i in [*range(900, 1000), *range(0, 320)]}
