"""Pure quota accounting and LimitRange rules (gitkube.api.quota)."""

from __future__ import annotations

from typing import Any

from gitkube.api import quota
from gitkube.api.quantity import Quantity


def pod(*containers: dict[str, Any], phase: str = "", init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
                            "spec": {"containers": list(containers)}}
    if init:
        body["spec"]["initContainers"] = init
    if phase:
        body["status"] = {"phase": phase}
    return body


def c(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"name": name, "image": "x", "resources": res}


def test_pod_usage_sums_containers_and_takes_init_peak() -> None:
    p = pod(c("a", {"cpu": "100m", "memory": "64Mi"}, {"cpu": "200m"}), c("b", {"cpu": "300m"}),
            init=[c("i", {"cpu": "1"})])
    usage = quota.usage_of(p)
    assert usage["pods"] == 1 and usage["count/pods"] == 1
    assert usage["requests.cpu"] == Quantity.parse("1") == usage["cpu"]
    assert usage["requests.memory"] == Quantity.parse("64Mi")
    assert usage["limits.cpu"] == Quantity.parse("200m")
    assert "limits.memory" not in usage


def test_terminal_pod_counts_only_object_count() -> None:
    assert quota.usage_of(pod(c("a", {"cpu": "1"}), phase="Succeeded")) == {"count/pods": 1}
    assert quota.usage_of(pod(c("a"), phase="Failed")) == {"count/pods": 1}


def test_other_kinds() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "spec": {"type": "NodePort", "ports": [{"port": 1}, {"port": 2}]}}
    assert quota.usage_of(svc) == {"count/services": 1, "services": 1, "services.nodeports": 2}
    assert quota.usage_of({"apiVersion": "v1", "kind": "ConfigMap"}) == {"count/configmaps": 1, "configmaps": 1}
    assert quota.usage_of({"apiVersion": "v1", "kind": "Secret"}) == {"count/secrets": 1, "secrets": 1}
    assert quota.usage_of({"apiVersion": "apps/v1", "kind": "Deployment"}) == {"count/deployments.apps": 1}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    assert quota.usage_of(pvc)["requests.storage"] == Quantity.parse("1Gi")


def test_check_wording_and_fit() -> None:
    assert quota.check({"pods": "2"}, {"pods": "1"}, {"pods": 1}, name="q") == []
    assert quota.check({"pods": "2"}, {"pods": "2"}, {"pods": 1}, name="q") == [
        "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"]
    msgs = quota.check({"requests.cpu": "1", "pods": "10", "limits.cpu": "2"}, {"requests.cpu": "800m", "pods": "1"},
                       {"requests.cpu": Quantity.parse("300m"), "pods": 1, "limits.cpu": Quantity.parse("1")},
                       name="compute")
    assert msgs == ["exceeded quota: compute, requested: requests.cpu=300m, used: requests.cpu=800m, "
                    "limited: requests.cpu=1"]
    assert quota.check({"pods": "1"}, {}, {"configmaps": 1}, name="q") == []  # not constrained


def test_missing_constraints() -> None:
    p = pod(c("c1", {"cpu": "1"}), c("c2", {"cpu": "1"}, {"cpu": "1"}))
    assert quota.missing_constraints({"limits.cpu": "2"}, p) == "must specify limits.cpu for: c1"
    assert quota.missing_constraints({"pods": "2"}, p) == ""
    assert quota.missing_constraints({"limits.cpu": "2", "memory": "1Gi"}, p) == (
        "must specify limits.cpu for: c1; memory for: c1,c2")


def test_scopes_and_calculate_used() -> None:
    best_effort = pod(c("a"))
    burstable = pod(c("a", {"cpu": "1"}))
    q = {"spec": {"hard": {"pods": "5"}, "scopes": ["BestEffort"]}}
    assert quota.matches_scopes(q, best_effort) and not quota.matches_scopes(q, burstable)
    assert quota.calculate_used(q, [best_effort, burstable, pod(c("a"), phase="Failed")]) == {"pods": "1"}
    plain = {"spec": {"hard": {"pods": "5", "requests.cpu": "4", "configmaps": "3"}}}
    objs = [best_effort, burstable, {"apiVersion": "v1", "kind": "ConfigMap"}]
    assert quota.calculate_used(plain, objs) == {"configmaps": "1", "pods": "2", "requests.cpu": "1"}
    assert quota.tracked_resources(["pods", "configmaps", "count/deployments.apps", "services.nodeports"]) == {
        ("", "pods"), ("", "configmaps"), ("apps", "deployments"), ("", "services")}


LR = {"spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
                           "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                           "max": {"cpu": "1"}, "min": {"cpu": "50m"}, "maxLimitRequestRatio": {"cpu": "4"}}]}}


def test_limit_range_defaults_and_annotation() -> None:
    p = pod(c("web", limits={"cpu": "300m"}), c("side", {"memory": "32Mi"}))
    note = quota.apply_limit_range_defaults(p, [LR])
    web, side = p["spec"]["containers"]
    assert web["resources"]["requests"] == {"cpu": "300m", "memory": "64Mi"}  # request defaults to own limit
    assert web["resources"]["limits"] == {"cpu": "300m", "memory": "128Mi"}
    assert side["resources"]["requests"] == {"cpu": "100m", "memory": "32Mi"}
    assert note == p["metadata"]["annotations"][quota.LIMIT_RANGER_ANNOTATION]
    assert note.startswith("LimitRanger plugin set: memory request for container web; memory limit for container web")
    # side: default limit 500m over its default request 100m breaks the ratio of 4, as in Kubernetes
    assert quota.limit_range_violations(p, LR) == [
        "cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000"]


def test_limit_range_violations() -> None:
    assert quota.limit_range_violations(pod(c("a", {"cpu": "1"}, {"cpu": "2"})), LR) == [
        "maximum cpu usage per Container is 1, but limit is 2"]
    msgs = quota.limit_range_violations(pod(c("a", {"cpu": "100m"}, {"cpu": "2"})), LR)
    assert msgs == ["maximum cpu usage per Container is 1, but limit is 2",
                    "cpu max limit to request ratio per Container is 4, but provided ratio is 20.000000"]
    assert quota.limit_range_violations(pod(c("a", {"cpu": "10m"}, {"cpu": "20m"})), LR) == [
        "minimum cpu usage per Container is 50m, but request is 10m"]
    assert quota.limit_range_violations(pod(c("a")), LR)[0] == "minimum cpu usage per Container is 50m.  No request is specified"
    pod_lr = {"spec": {"limits": [{"type": "Pod", "max": {"memory": "100Mi"}}]}}
    two = pod(c("a", {"memory": "60Mi"}, {"memory": "60Mi"}), c("b", {"memory": "60Mi"}, {"memory": "60Mi"}))
    assert quota.limit_range_violations(two, pod_lr) == ["maximum memory usage per Pod is 100Mi, but limit is 120Mi"]
