"""Quota at the rollout peak (gitkube.plan.capacity) over real plans from make_plan."""

from __future__ import annotations

import copy
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.plan import Desired, make_plan
from gitkube.plan.capacity import ClusterView, project, rollouts
from gitkube.plan.model import Plan
from gitkube.plan.render import render_capacity

NS = "shop"


def deployment(name: str = "web", replicas: int = 2, cpu: str | None = "1", image: str = "v1",
               strategy: dict[str, Any] | None = None, limits: bool = False) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if cpu is not None:
        resources["requests"] = {"cpu": cpu, "memory": "64Mi"}
        if limits:
            resources["limits"] = {"cpu": cpu, "memory": "64Mi"}
    spec: dict[str, Any] = {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": image, "resources": resources}]}}}
    if strategy is not None:
        spec["strategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def pod_of(workload: dict[str, Any], i: int) -> dict[str, Any]:
    tmpl = workload["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{workload['metadata']['name']}-{i}", "namespace": NS, "uid": f"u-{i}",
                         "labels": dict(tmpl["metadata"]["labels"])},
            "spec": {**copy.deepcopy(tmpl["spec"]), "nodeName": "n1"}, "status": {"phase": "Running"}}


def quota(**hard: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute", "namespace": NS},
            "spec": {"hard": dict(hard)}}


def plan_of(desired: list[dict[str, Any]], live: list[dict[str, Any]]) -> Plan:
    return make_plan([Desired(d, f"{d['metadata']['name']}.yaml:1:1") for d in desired],
                     {ObjectKey.of(o): o for o in live}, None)


def test_a_new_deployment_over_the_pod_count_is_refused_with_the_numbers() -> None:
    plan = plan_of([deployment(replicas=3)], [])
    report = project(plan, ClusterView(quotas={NS: [quota(pods="2")]}))
    assert report.problems == ["namespace shop: exceeded quota: compute after the sync, requested: pods=3, "
                               "used: pods=0, limited: pods=2"]
    assert report.quotas[0].to_json()["resources"]["pods"] == {"used": "0", "atRest": "3", "peak": "3", "hard": "2"}


def test_a_rolling_update_that_fits_at_rest_but_not_with_max_surge() -> None:
    old = deployment(replicas=2, image="v1", strategy={"type": "RollingUpdate",
                                                     "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    new = deployment(replicas=2, image="v2", strategy=old["spec"]["strategy"])
    view = ClusterView(quotas={NS: [quota(**{"requests.cpu": "2"})]}, objects={NS: [pod_of(old, 0), pod_of(old, 1)]})
    report = project(plan_of([new], [old]), view)
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert "at the peak of the rollout (Deployment web maxSurge 1); it fits at rest" in problem
    assert "requested: requests.cpu=1, used: requests.cpu=2, limited: requests.cpu=2" in problem
    proj = report.quotas[0]
    assert (str(proj.now["requests.cpu"]), str(proj.rest["requests.cpu"]), str(proj.peak["requests.cpu"])) == \
        ("2", "2", "3")
    assert "exceeded" in render_capacity(report, color=False)


def test_the_same_update_without_surge_or_with_recreate_fits() -> None:
    for strategy in ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                     {"type": "Recreate"}):
        old = deployment(replicas=2, image="v1", strategy=strategy)
        new = deployment(replicas=2, image="v2", strategy=strategy)
        view = ClusterView(quotas={NS: [quota(**{"requests.cpu": "2"})]},
                           objects={NS: [pod_of(old, 0), pod_of(old, 1)]})
        report = project(plan_of([new], [old]), view)
        assert report.problems == [], strategy
        assert str(report.quotas[0].peak["requests.cpu"]) == "2"


def test_the_default_surge_is_a_quarter_rounded_up() -> None:
    old = deployment(replicas=4, image="v1")
    view = ClusterView(quotas={NS: [quota(pods="10")]}, objects={NS: [pod_of(old, i) for i in range(4)]})
    report = project(plan_of([deployment(replicas=4, image="v2")], [old]), view)
    assert str(report.quotas[0].peak["pods"]) == "5"  # 4 old + ceil(25% of 4) new


def test_a_scale_only_change_does_not_surge() -> None:
    old = deployment(replicas=2)
    view = ClusterView(quotas={NS: [quota(pods="3")]}, objects={NS: [pod_of(old, 0), pod_of(old, 1)]})
    report = project(plan_of([deployment(replicas=3)], [old]), view)
    assert report.problems == []
    assert rollouts(plan_of([deployment(replicas=3)], [old]), view)[0].rolls is False


def test_limit_range_defaults_count_and_its_max_refuses_the_pods() -> None:
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": NS},
          "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "500m"}, "default": {"cpu": "1"},
                               "max": {"cpu": "1"}}]}}
    plan = plan_of([lr, deployment(replicas=3, cpu=None)], [])
    report = project(plan, ClusterView(quotas={NS: [quota(**{"requests.cpu": "1"})]}))
    assert report.problems == ["namespace shop: exceeded quota: compute after the sync, requested: requests.cpu=1500m, "
                               "used: requests.cpu=0, limited: requests.cpu=1"]
    big = plan_of([lr, deployment(replicas=1, cpu="2", limits=True)], [])
    report = project(big, ClusterView())
    assert report.problems == ["Deployment.apps shop/web: its pods would be forbidden by LimitRange defaults: "
                               "maximum cpu usage per Container is 1, but limit is 2"]


def test_a_quota_on_limits_needs_every_container_to_set_them() -> None:
    report = project(plan_of([deployment()], []), ClusterView(quotas={NS: [quota(**{"limits.cpu": "4"})]}))
    assert any("would be forbidden by quota compute: must specify limits.cpu for: c" in p for p in report.problems)


def test_object_counts_and_a_namespace_already_over_its_quota() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": NS}, "data": {"k": "v"}}
    cm2 = copy.deepcopy(cm)
    cm2["metadata"]["name"] = "b"
    report = project(plan_of([cm, cm2], []), ClusterView(quotas={NS: [quota(configmaps="1")]}))
    assert [p.split(", requested")[0] for p in report.problems] == ["namespace shop: exceeded quota: compute after the sync"]
    # over quota already (someone else's pods), and this commit only edits a ConfigMap: not its fault
    over = ClusterView(quotas={NS: [quota(pods="1")]}, objects={NS: [pod_of(deployment(), 0), pod_of(deployment(), 1)]})
    edited = copy.deepcopy(cm)
    edited["data"]["k"] = "w"
    assert project(plan_of([edited], [cm]), over).problems == []


def test_a_commit_that_raises_the_quota_itself_is_projected_against_the_new_hard() -> None:
    old = deployment(replicas=2)
    plan = plan_of([quota(pods="4"), deployment(replicas=4)], [quota(pods="2"), old])
    view = ClusterView(quotas={NS: [quota(pods="2")]}, objects={NS: [pod_of(old, 0), pod_of(old, 1)]})
    report = project(plan, view)
    assert report.problems == []
    assert str(report.quotas[0].hard["pods"]) == "4"
