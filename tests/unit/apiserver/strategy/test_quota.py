"""ResourceQuota and LimitRange strategies."""

from __future__ import annotations

from typing import Any

import pytest

from . import causes_of, defaulted, run


def quota(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
            "spec": spec}


def test_quota_defaults_canonicalize() -> None:
    obj = defaulted("ResourceQuota", quota(hard={"requests.cpu": "0.5", "requests.memory": "1.5Gi", "pods": 10}))
    assert obj["spec"]["hard"] == {"requests.cpu": "500m", "requests.memory": "1536Mi", "pods": "10"}


def test_valid_quotas() -> None:
    assert run("ResourceQuota", quota(hard={"cpu": "4", "limits.memory": "8Gi", "pods": "20", "services": "5",
                                            "count/deployments.apps": "3", "requests.storage": "100Gi"})) == []
    assert run("ResourceQuota", quota(hard={"pods": "5", "cpu": "1"}, scopes=["NotBestEffort", "Terminating"])) == []
    assert run("ResourceQuota", quota(hard={"pods": "5"}, scopeSelector={"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]})) == []


QUOTA_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"hard": {"cpus": "1"}}, "spec.hard[cpus]", 'Invalid value: "cpus": must be a standard resource for quota'),
    ({"hard": {"cpu": "-1"}}, "spec.hard[cpu]", 'Invalid value: "-1": must be greater than or equal to 0'),
    ({"hard": {"pods": "1.5"}}, "spec.hard[pods]", 'Invalid value: "1500m": must be an integer'),
    ({"hard": {"memory": "8 GB"}}, "spec.hard[memory]",
     "Invalid value: \"8 GB\": quantities must match the regular expression "
     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ({"hard": {"pods": "1"}, "scopes": ["Everything"]}, "spec.scopes",
     'Invalid value: []string{"Everything"}: unsupported scope'),
    ({"hard": {"services": "1"}, "scopes": ["BestEffort"]}, "spec.scopes",
     'Invalid value: []string{"BestEffort"}: unsupported scope applied to resource'),
    ({"hard": {"pods": "1"}, "scopes": ["BestEffort", "NotBestEffort"]}, "spec.scopes",
     'Invalid value: []string{"BestEffort", "NotBestEffort"}: conflicting scopes'),
    ({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [{"scopeName": "BestEffort", "operator": "In",
                                                                     "values": ["x"]}]}},
     "spec.scopeSelector.matchExpressions.operator",
     "Invalid value: \"In\": must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, "
     "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or "
     "ResourceQuotaScopeCrossNamespacePodAffinity"),
    ({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In"}]}},
     "spec.scopeSelector.matchExpressions.values",
     "Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"),
]


@pytest.mark.parametrize(("spec", "field", "message"), QUOTA_CASES)
def test_quota_rule(spec: dict[str, Any], field: str, message: str) -> None:
    causes = run("ResourceQuota", quota(**spec))
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]


def test_quota_status_and_scope_immutability() -> None:
    bad_status = quota(hard={"pods": "1"})
    bad_status["status"] = {"used": {"pods": "-1"}}
    assert causes_of(run("ResourceQuota", bad_status), "status.used[pods]") == [
        'Invalid value: "-1": must be greater than or equal to 0']
    old = quota(hard={"pods": "1"}, scopes=["Terminating"])
    new = quota(hard={"pods": "2"}, scopes=["NotTerminating"])
    assert causes_of(run("ResourceQuota", new, old), "spec.scopes") == [
        'Invalid value: []string{"NotTerminating"}: field is immutable']
    assert run("ResourceQuota", quota(hard={"pods": "2"}, scopes=["Terminating"]), old) == []


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr", "namespace": "default"},
            "spec": {"limits": list(items)}}


def test_limit_range_defaults() -> None:
    obj = defaulted("LimitRange", limit_range(
        {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "0.1", "ephemeral-storage": "1Gi"},
         "default": {"memory": "512Mi"}},
        {"type": "Pod", "max": {"cpu": "4"}}))
    container, pod = obj["spec"]["limits"]
    assert container["min"] == {"cpu": "100m", "ephemeral-storage": "1Gi"}
    assert container["default"] == {"memory": "512Mi", "cpu": "2"}  # default limit from max
    assert container["defaultRequest"] == {"memory": "512Mi", "cpu": "2", "ephemeral-storage": "1Gi"}
    assert "default" not in pod and "defaultRequest" not in pod
    assert run("LimitRange", limit_range(
        {"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}, "maxLimitRequestRatio": {"cpu": "4"}},
        {"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}})) == []


LIMIT_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"type": "Node"}, "spec.limits[0].type", 'Invalid value: "Node": must be a standard limit type or fully qualified'),
    ({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}, "spec.limits[0].min[cpu]",
     'Invalid value: "2": min value 2 is greater than max value 1'),
    ({"type": "Container", "max": {"cpu": "1"}, "default": {"cpu": "2"}}, "spec.limits[0].default[cpu]",
     'Invalid value: "1": default value 2 is greater than max value 1'),
    ({"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "2"}},
     "spec.limits[0].defaultRequest[cpu]", 'Invalid value: "2": default request value 2 is greater than default limit '
     "value 1"),
    ({"type": "Container", "min": {"memory": "1Gi"}, "defaultRequest": {"memory": "512Mi"}, "default": {"memory": "2Gi"}},
     "spec.limits[0].defaultRequest[memory]",
     'Invalid value: "512Mi": min value 1Gi is greater than default request value 512Mi'),
    ({"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}}, "spec.limits[0].maxLimitRequestRatio[cpu]",
     'Invalid value: "500m": ratio 500m is less than 1'),
    ({"type": "Container", "min": {"cpu": "1"}, "max": {"cpu": "2"}, "maxLimitRequestRatio": {"cpu": "3"}},
     "spec.limits[0].maxLimitRequestRatio[cpu]", 'Invalid value: "3": ratio 3 is greater than max/min = 2.000000'),
    ({"type": "Pod", "default": {"cpu": "1"}}, "spec.limits[0].default",
     "Forbidden: may not be specified when `type` is 'Pod'"),
    ({"type": "Container", "max": {"pods": "1"}}, "spec.limits[0].max[pods]",
     'Invalid value: "pods": must be a standard resource for containers'),
    ({"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}, "spec.limits[0].limits",
     "Required value: either minimum or maximum storage value is required, but neither was provided"),
    ({"type": "Container", "default": {"example.com/gpu": "2"}, "defaultRequest": {"example.com/gpu": "1"}},
     "spec.limits[0].defaultRequest[example.com/gpu]",
     'Invalid value: "1": default value 2 must equal to defaultRequest value 1 in example.com/gpu'),
]


@pytest.mark.parametrize(("item", "field", "message"), LIMIT_CASES)
def test_limit_range_rule(item: dict[str, Any], field: str, message: str) -> None:
    causes = run("LimitRange", limit_range(item))
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]


def test_duplicate_limit_types() -> None:
    causes = run("LimitRange", limit_range({"type": "Pod"}, {"type": "Pod"}))
    assert causes_of(causes, "spec.limits[1].type") == ['Duplicate value: "Pod"']
