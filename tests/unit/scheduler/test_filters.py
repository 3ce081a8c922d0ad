"""Table-driven tests of the filter plugins: pure functions over pod and node dicts."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.scheduler.framework import Code, CycleState, Status
from gitkube.scheduler.nodeinfo import PodInfo
from gitkube.scheduler.plugins import (
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    taint_toleration,
)

from .builders import node, node_info, pod

OK = Status.success()


def run(plugin: Any, p: dict[str, Any], n: dict[str, Any], *on_node: dict[str, Any]) -> Status:
    status: Status = plugin.filter(CycleState(), PodInfo.of(p), node_info(n, *on_node))
    return status


NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
NOT_READY_EXEC = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}


@pytest.mark.parametrize(("p", "n", "on_node", "want"), [
    (pod(cpu="1"), node(cpu="2"), [], OK),
    (pod(cpu="1"), node(cpu="2"), [pod("a", cpu="1500m")],
     Status(Code.UNSCHEDULABLE, ("Insufficient cpu",), "NodeResourcesFit")),
    (pod(cpu="3"), node(cpu="2"), [],
     Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("Insufficient cpu",), "NodeResourcesFit")),
    (pod(cpu="1", memory="1Gi"), node(cpu="1", memory="1Gi"), [pod("a", cpu="1m", memory="1")],
     Status(Code.UNSCHEDULABLE, ("Insufficient cpu", "Insufficient memory"), "NodeResourcesFit")),
    (pod(), node(pods="1"), [pod("a")], Status(Code.UNSCHEDULABLE, ("Too many pods",), "NodeResourcesFit")),
    (pod(), node(pods="2"), [pod("a")], OK),
    (pod(cpu="100m"), node(pods="1"), [pod("a", cpu="100m")],
     Status(Code.UNSCHEDULABLE, ("Too many pods",), "NodeResourcesFit")),
    (pod(), node(cpu="0", memory="0"), [pod("a", cpu="1")], OK),  # no requests: only the pod count matters
])
def test_node_resources_fit(p: Any, n: Any, on_node: Any, want: Any) -> None:
    assert run(node_resources_fit.new(), p, n, *on_node) == want


def test_extended_resources_and_init_containers() -> None:
    gpu_pod = pod()
    gpu_pod["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": "2"}}
    assert run(node_resources_fit.new(), gpu_pod, node(extra={"example.com/gpu": "1"})).reasons == (
        "Insufficient example.com/gpu",)
    assert run(node_resources_fit.new(), gpu_pod, node(extra={"example.com/gpu": "2"})).is_success
    assert run(node_resources_fit.new(), gpu_pod, node()).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    init = pod(cpu="100m")
    init["spec"]["initContainers"] = [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "3"}}}]
    assert run(node_resources_fit.new(), init, node(cpu="2")).reasons == ("Insufficient cpu",)


@pytest.mark.parametrize(("tolerations", "taints", "want"), [
    ([], [], OK),
    ([], [NOT_READY], Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                             ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",), "TaintToleration")),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}],
     [NOT_READY], OK),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}],
     [NOT_READY, NOT_READY_EXEC],
     Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",), "TaintToleration")),
    ([{"operator": "Exists"}], [NOT_READY, NOT_READY_EXEC], OK),
    ([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], OK),
    ([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
     Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) had untolerated taint {dedicated: gpu}",),
            "TaintToleration")),
    ([], [{"key": "soft", "effect": "PreferNoSchedule"}], OK),
])
def test_taint_toleration(tolerations: Any, taints: Any, want: Any) -> None:
    assert run(taint_toleration.new(), pod(tolerations=tolerations), node(taints=taints)) == want


@pytest.mark.parametrize(("tolerations", "unschedulable", "ok"), [
    ([], False, True),
    ([], True, False),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}], True, True),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}], True, False),
])
def test_node_unschedulable(tolerations: Any, unschedulable: Any, ok: Any) -> None:
    status = run(node_unschedulable.new(), pod(tolerations=tolerations), node(unschedulable=unschedulable))
    assert status.is_success is ok
    if not ok:
        assert status.reasons == ("node(s) were unschedulable",)
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def _required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def _expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": op, **({"values": list(values)} if values else {})}]}


@pytest.mark.parametrize(("p", "labels", "ok"), [
    (pod(), {}, True),
    (pod(node_selector={"disk": "ssd"}), {"disk": "ssd"}, True),
    (pod(node_selector={"disk": "ssd"}), {"disk": "hdd"}, False),
    (pod(node_selector={"disk": "ssd"}), {}, False),
    (pod(affinity=_required(_expr("zone", "In", "a", "b"))), {"zone": "b"}, True),
    (pod(affinity=_required(_expr("zone", "In", "a"))), {"zone": "b"}, False),
    (pod(affinity=_required(_expr("zone", "NotIn", "a"))), {}, True),
    (pod(affinity=_required(_expr("zone", "Exists"))), {}, False),
    (pod(affinity=_required(_expr("zone", "DoesNotExist"))), {}, True),
    (pod(affinity=_required(_expr("cores", "Gt", "4"))), {"cores": "8"}, True),
    (pod(affinity=_required(_expr("cores", "Gt", "4"))), {"cores": "4"}, False),
    (pod(affinity=_required(_expr("cores", "Lt", "4"))), {"cores": "x"}, False),
    (pod(affinity=_required(_expr("zone", "In", "a"), _expr("disk", "In", "ssd"))), {"disk": "ssd"}, True),
    (pod(affinity=_required({})), {"zone": "a"}, False),  # an empty term matches nothing
    (pod(affinity=_required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]})),
     {}, True),
    (pod(affinity=_required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["m"]}]})),
     {}, False),
    (pod(node_selector={"disk": "ssd"}, affinity=_required(_expr("zone", "In", "a"))), {"zone": "a"}, False),
])
def test_node_affinity_filter(p: Any, labels: Any, ok: Any) -> None:
    status = run(node_affinity.new(), p, node(labels=labels))
    assert status.is_success is ok
    if not ok:
        assert status == Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                ("node(s) didn't match Pod's node affinity/selector",), "NodeAffinity")


def test_node_affinity_prefilter_skips_pods_without_constraints() -> None:
    plugin = node_affinity.new()
    assert plugin.pre_filter(CycleState(), PodInfo.of(pod())).is_skip
    assert plugin.pre_filter(CycleState(), PodInfo.of(pod(node_selector={"a": "b"}))).is_success


@pytest.mark.parametrize(("want", "used", "conflict"), [
    ([("0.0.0.0", "TCP", 80)], [], False),
    ([("0.0.0.0", "TCP", 80)], [("0.0.0.0", "TCP", 80)], True),
    ([("0.0.0.0", "TCP", 80)], [("0.0.0.0", "UDP", 80)], False),
    ([("127.0.0.1", "TCP", 80)], [("127.0.0.2", "TCP", 80)], False),
    ([("127.0.0.1", "TCP", 80)], [("0.0.0.0", "TCP", 80)], True),
    ([("0.0.0.0", "TCP", 80)], [("127.0.0.2", "TCP", 80)], True),
    ([("0.0.0.0", "TCP", 81)], [("0.0.0.0", "TCP", 80)], False),
])
def test_port_conflicts(want: Any, used: Any, conflict: Any) -> None:
    assert node_ports.conflicts(want, used) is conflict


def test_node_ports_filter() -> None:
    status = run(node_ports.new(), pod(host_ports=[8080]), node(), pod("a", host_ports=[8080]))
    assert status == Status(Code.UNSCHEDULABLE, ("node(s) didn't have free ports for the requested pod ports",),
                            "NodePorts")
    assert run(node_ports.new(), pod(host_ports=[8081]), node(), pod("a", host_ports=[8080])).is_success
    assert node_ports.new().pre_filter(CycleState(), PodInfo.of(pod())).is_skip


def test_node_name() -> None:
    assert run(node_name.new(), pod(node_name="n"), node("n")).is_success
    assert run(node_name.new(), pod(node_name="m"), node("n")) == Status(
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) didn't match the requested node name",), "NodeName")
    assert node_name.new().pre_filter(CycleState(), PodInfo.of(pod())).is_skip
