"""The scheduler dry run of rollouts (gitkube.engine.fit) with the scheduler's real plugins."""

from __future__ import annotations

from typing import Any

from gitkube.engine.fit import simulate
from gitkube.plan.capacity import ClusterView, rollouts
from tests.unit.plan.test_capacity import NS, deployment, plan_of, pod_of


def node(name: str = "n1", cpu: str = "2", taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints or []},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}


def test_pods_that_do_not_fit_get_the_schedulers_reason() -> None:
    plan = plan_of([deployment(replicas=3)], [])
    problems, warnings = simulate([node(cpu="2")], [], rollouts(plan, ClusterView()))
    assert problems == ["Deployment.apps shop/web: 1 of 3 new pods would not be scheduled: "
                        "0/1 nodes are available: 1 Insufficient cpu."]
    assert warnings == []


def test_surge_needs_room_next_to_the_old_pods() -> None:
    surge = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    old = deployment(replicas=2, image="v1", strategy=surge)
    pods = [pod_of(old, 0), pod_of(old, 1)]
    view = ClusterView(objects={NS: pods})
    tight = rollouts(plan_of([deployment(replicas=2, image="v2", strategy=surge)], [old]), view)
    problems, _ = simulate([node(cpu="2")], pods, tight)
    assert problems and "Insufficient cpu" in problems[0]
    no_surge = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    old2 = deployment(replicas=2, image="v1", strategy=no_surge)
    ok = rollouts(plan_of([deployment(replicas=2, image="v2", strategy=no_surge)], [old2]), view)
    assert simulate([node(cpu="2")], pods, ok) == ([], [])


def test_taints_and_no_nodes() -> None:
    plan = plan_of([deployment(replicas=1)], [])
    found = rollouts(plan, ClusterView())
    problems, _ = simulate([node(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])], [], found)
    assert problems and "untolerated taint" in problems[0]
    assert simulate([], [], found) == ([], ["the cluster has no nodes: where the new pods will run was not checked"])


def test_a_daemonset_needs_room_on_every_eligible_node() -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": NS},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "c", "image": "x",
                                                         "resources": {"requests": {"cpu": "1500m"}}}]}}}}
    busy = pod_of(deployment(name="other"), 9)
    busy["spec"]["nodeName"] = "n2"
    found = rollouts(plan_of([ds], []), ClusterView())
    problems, _ = simulate([node("n1"), node("n2")], [busy], found)
    assert problems == ["DaemonSet.apps shop/agent: 1 of 2 new pods would not be scheduled: "
                        "0/2 nodes are available: 1 Insufficient cpu."]
