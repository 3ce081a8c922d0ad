"""Deployment and ReplicaSet defaults and validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from . import causes_of, defaulted, deployment, pod_template, run


def test_deployment_defaults() -> None:
    spec = defaulted("Deployment", deployment())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and tspec["dnsPolicy"] == "ClusterFirst"
    assert tspec["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_deployment_defaults_keep_user_values() -> None:
    spec = defaulted("Deployment", deployment(replicas=0, revisionHistoryLimit=0,
                                              strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}))["spec"]
    assert spec["replicas"] == 0 and spec["revisionHistoryLimit"] == 0
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}
    recreate = defaulted("Deployment", deployment(strategy={"type": "Recreate"}))["spec"]["strategy"]
    assert recreate == {"type": "Recreate"}


SELECTOR_MISMATCH = 'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'

# (spec overrides, field, message)
DEPLOYMENT_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"selector": None}, "spec.selector", "Required value"),
    ({"template": pod_template({"app": "other"})}, "spec.template.metadata.labels", SELECTOR_MISMATCH),
    ({"selector": {}}, "spec.selector",
     "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"),
    ({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.selector.matchExpressions[0].values", "Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ({"selector": {"matchExpressions": [{"key": "app", "operator": "Has"}]}},
     "spec.selector.matchExpressions[0].operator", 'Invalid value: "Has": not a valid selector operator'),
    ({"replicas": -1}, "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
    ({"template": pod_template(restartPolicy="Never")}, "spec.template.spec.restartPolicy",
     'Unsupported value: "Never": supported values: "Always"'),
    ({"template": pod_template(activeDeadlineSeconds=10)}, "spec.template.spec.activeDeadlineSeconds",
     "Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"),
    ({"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "Bad"}]}}},
     "spec.template.spec.containers[0].image", "Required value"),
    ({"template": {"metadata": {"labels": {"app": "web", "bad key!": "x"}}, "spec": {"containers": [
        {"name": "a", "image": "i"}]}}}, "spec.template.labels", None),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
     "spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 0: may not be 0 when `maxSurge` is 0"),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}},
     "spec.strategy.rollingUpdate.maxUnavailable", 'Invalid value: "0%": may not be 0 when `maxSurge` is 0'),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%"}}},
     "spec.strategy.rollingUpdate.maxUnavailable", 'Invalid value: "150%": must not be greater than 100%'),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "lots"}}},
     "spec.strategy.rollingUpdate.maxSurge",
     "Invalid value: \"lots\": a valid percent string must be a numeric string followed by an ending '%' "
     "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": -1}}},
     "spec.strategy.rollingUpdate.maxSurge", "Invalid value: -1: must be greater than or equal to 0"),
    ({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}, "spec.strategy.rollingUpdate",
     "Forbidden: may not be specified when strategy `type` is 'Recreate'"),
    ({"strategy": {"type": "BlueGreen"}}, "spec.strategy",
     'Unsupported value: {"type":"BlueGreen"}: supported values: "Recreate", "RollingUpdate"'),
    ({"minReadySeconds": 600}, "spec.progressDeadlineSeconds", "Invalid value: 600: must be greater than minReadySeconds"),
    ({"minReadySeconds": -1}, "spec.minReadySeconds", "Invalid value: -1: must be greater than or equal to 0"),
    ({"revisionHistoryLimit": -1}, "spec.revisionHistoryLimit", "Invalid value: -1: must be greater than or equal to 0"),
]


@pytest.mark.parametrize(("spec", "field", "message"), DEPLOYMENT_CASES)
def test_deployment_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    obj = deployment(**spec)
    if spec.get("selector", 0) is None:
        del obj["spec"]["selector"]
    causes = run("Deployment", obj)
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_valid_deployments_pass() -> None:
    assert run("Deployment", deployment()) == []
    assert run("Deployment", deployment(selector={"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "api"]}]})) == []
    assert run("Deployment", deployment(strategy={"type": "Recreate"})) == []


def test_selector_is_immutable() -> None:
    old = defaulted("Deployment", deployment())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert causes_of(run("Deployment", new, old), "spec.selector") == [
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert run("Deployment", scaled, old) == []


def replicaset(**spec: Any) -> dict[str, Any]:
    obj = deployment(**spec)
    obj["kind"] = "ReplicaSet"
    return obj


def test_replicaset() -> None:
    assert defaulted("ReplicaSet", replicaset())["spec"]["replicas"] == 1
    assert run("ReplicaSet", replicaset()) == []
    assert SELECTOR_MISMATCH in causes_of(run("ReplicaSet", replicaset(template=pod_template({"app": "other"}))),
                                          "spec.template.metadata.labels")
    assert causes_of(run("ReplicaSet", replicaset(replicas=-2)), "spec.replicas") == [
        "Invalid value: -2: must be greater than or equal to 0"]
    old = defaulted("ReplicaSet", replicaset())
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["x"] = "y"
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert causes_of(run("ReplicaSet", new, old), "spec.selector")
