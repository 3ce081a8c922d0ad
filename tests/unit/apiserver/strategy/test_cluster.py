"""Node, Event and Lease strategies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from . import causes_of, defaulted, run


def node(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}, "spec": spec,
            "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}


def test_node_defaults_and_valid_node() -> None:
    obj = defaulted("Node", node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
                                 podCIDRs=["10.244.0.0/24"]))
    assert obj["status"]["allocatable"] == {"cpu": "2", "memory": "4Gi", "pods": "110"}
    assert run("Node", obj) == []
    kept = defaulted("Node", {**node(), "status": {"capacity": {"cpu": "2"}, "allocatable": {"cpu": "1500m"}}})
    assert kept["status"]["allocatable"] == {"cpu": "1500m"}


NODE_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"taints": [{"key": "k", "effect": "NoRun"}]}, "metadata.taints[0].effect",
     'Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'),
    ({"taints": [{"key": "k"}]}, "metadata.taints[0].effect", "Required value"),
    ({"taints": [{"key": "bad key!", "effect": "NoSchedule"}]}, "metadata.taints[0].key", None),
    ({"taints": [{"key": "k", "value": "-x", "effect": "NoSchedule"}]}, "metadata.taints[0].value", None),
    ({"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}]},
     "metadata.taints[1]",
     'Duplicate value: {"effect":"NoSchedule","key":"k","value":"v"}: taints must be unique by key and effect pair'),
    ({"podCIDRs": ["10.0.0.0/33"]}, "spec.podCIDRs[0]",
     'Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
]


@pytest.mark.parametrize(("spec", "field", "message"), NODE_CASES)
def test_node_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    causes = run("Node", node(**spec))
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_node_status_and_update_rules() -> None:
    bad = node()
    bad["status"]["capacity"]["cpu"] = "-1"
    assert causes_of(run("Node", bad), "status.capacity.cpu") == [
        'Invalid value: "-1": must be greater than or equal to 0']
    old = defaulted("Node", node(podCIDRs=["10.244.0.0/24"], providerID="gitkube://a"))
    new = copy.deepcopy(old)
    new["spec"]["podCIDRs"] = ["10.244.1.0/24"]
    new["spec"]["providerID"] = "gitkube://b"
    causes = run("Node", new, old)
    assert causes_of(causes, "spec.podCIDRs") == ['Forbidden: node updates may not change podCIDR except from "" to valid']
    assert causes_of(causes, "spec.providerID") == [
        'Forbidden: node updates may not change providerID except from "" to valid']
    unschedulable = copy.deepcopy(old)
    unschedulable["spec"]["unschedulable"] = True
    unschedulable["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    assert run("Node", unschedulable, old) == []
    fresh = defaulted("Node", node())
    assigned = copy.deepcopy(fresh)
    assigned["spec"]["podCIDRs"] = ["10.244.2.0/24"]
    assert run("Node", assigned, fresh) == []


def event(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}, "reason": "Started",
            "message": "Started container", "type": "Normal", **fields}


def test_event_rules() -> None:
    assert run("Event", event()) == []
    cluster_object = event(involvedObject={"kind": "Node", "name": "node-a"})
    assert run("Event", cluster_object) == []  # "default" is accepted for cluster-scoped objects
    mismatch = event(involvedObject={"kind": "Pod", "name": "x", "namespace": "other"})
    assert causes_of(run("Event", mismatch), "involvedObject.namespace") == [
        'Invalid value: "other": does not match event.namespace']
    new_style = event(eventTime="2024-01-01T00:00:00.000000Z")
    causes = run("Event", new_style)
    assert causes_of(causes, "reportingController")[:2] == [  # Kubernetes also runs the name check on ""
        "Required value", 'Invalid value: "": name part must be non-empty']
    assert causes_of(causes, "reportingInstance") == ["Required value"]
    assert causes_of(causes, "action") == ["Required value"]
    complete = event(eventTime="2024-01-01T00:00:00.000000Z", reportingComponent="gitkube.io/kubelet",
                     reportingInstance="node-a", action="Started")
    assert run("Event", complete) == []
    too_long = event(eventTime="2024-01-01T00:00:00.000000Z", reportingComponent="kubelet",
                     reportingInstance="node-a", action="a" * 129)
    assert causes_of(run("Event", too_long), "action") == ['Invalid value: "": can have at most 128 characters']


def lease(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "node-a", "namespace": "kube-node-lease"}, "spec": spec}


def test_lease_rules() -> None:
    assert run("Lease", lease(holderIdentity="node-a", leaseDurationSeconds=40, leaseTransitions=0)) == []
    assert causes_of(run("Lease", lease(leaseDurationSeconds=0)), "spec.leaseDurationSeconds") == [
        "Invalid value: 0: must be greater than 0"]
    assert causes_of(run("Lease", lease(leaseTransitions=-1)), "spec.leaseTransitions") == [
        "Invalid value: -1: must be greater than or equal to 0"]
