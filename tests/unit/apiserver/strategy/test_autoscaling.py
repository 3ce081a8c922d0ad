"""HorizontalPodAutoscaler (autoscaling/v2) defaults and validation."""

from __future__ import annotations

from typing import Any

import pytest

from . import causes_of, defaulted, run

TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def hpa(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"scaleTargetRef": dict(TARGET), "maxReplicas": 5}
    body.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def test_hpa_defaults() -> None:
    spec = defaulted("HorizontalPodAutoscaler", hpa())["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in spec
    assert run("HorizontalPodAutoscaler", hpa()) == []


def test_behavior_defaults_fill_the_other_direction() -> None:
    spec = defaulted("HorizontalPodAutoscaler", hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}}))["spec"]
    assert spec["behavior"]["scaleUp"] == {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert spec["behavior"]["scaleDown"] == {"selectPolicy": "Max", "stabilizationWindowSeconds": 60, "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def test_metric_quantities_are_canonical() -> None:
    spec = defaulted("HorizontalPodAutoscaler", hpa(metrics=[{"type": "Pods", "pods": {
        "metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "0.5"}}}]))["spec"]
    assert spec["metrics"][0]["pods"]["target"]["averageValue"] == "500m"


def resource_metric(**target: Any) -> list[dict[str, Any]]:
    return [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", **target}}}]


CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"minReplicas": 0}, "spec.minReplicas", "Invalid value: 0: must be greater than or equal to 1"),
    ({"maxReplicas": 0}, "spec.maxReplicas", "Invalid value: 0: must be greater than 0"),
    ({"minReplicas": 6}, "spec.maxReplicas", "Invalid value: 5: must be greater than or equal to `minReplicas`"),
    ({"scaleTargetRef": {"name": "web"}}, "spec.scaleTargetRef.kind", "Required value"),
    ({"scaleTargetRef": {"kind": "Deployment", "name": "a/b"}}, "spec.scaleTargetRef.name",
     "Invalid value: \"a/b\": may not contain '/'"),
    ({"metrics": [{"type": "Magic"}]}, "spec.metrics[0].type",
     'Unsupported value: "Magic": supported values: "ContainerResource", "External", "Object", "Pods", "Resource"'),
    ({"metrics": [{"type": "Resource"}]}, "spec.metrics[0].resource",
     "Required value: must populate information for the given metric source"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                             "averageUtilization": 50}},
                   "pods": {"metric": {"name": "x"}, "target": {"type": "AverageValue", "averageValue": "1"}}}]},
     "spec.metrics[0].pods", "Forbidden: must populate the given metric source only"),
    ({"metrics": resource_metric(averageUtilization=0)}, "spec.metrics[0].resource.target.averageUtilization",
     "Invalid value: 0: must be greater than 0"),
    ({"metrics": resource_metric()}, "spec.metrics[0].resource.target.averageUtilization",
     "Required value: must set either a target raw value or a target utilization"),
    ({"metrics": resource_metric(averageUtilization=50, averageValue="1")}, "spec.metrics[0].resource.target.averageValue",
     "Forbidden: may not set both a target raw value and a target utilization"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Percent",
                                                                             "averageUtilization": 5}}}]},
     "spec.metrics[0].resource.target.type", 'Invalid value: "Percent": must be either Utilization, Value, or AverageValue'),
    ({"metrics": [{"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                                  "averageValue": "-1"}}}]},
     "spec.metrics[0].pods.target.averageValue", 'Invalid value: "-1": must be positive'),
    ({"metrics": [{"type": "Pods", "pods": {"metric": {}, "target": {"type": "AverageValue", "averageValue": "1"}}}]},
     "spec.metrics[0].pods.metric.name", "Required value: must specify a metric name"),
    ({"metrics": [{"type": "Object", "object": {"describedObject": dict(TARGET), "metric": {"name": "hits"},
                                                "target": {"type": "Value"}}}]},
     "spec.metrics[0].object.target.averageValue", "Required value: must set either a target value or averageValue"),
    ({"metrics": [{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
     "spec.metrics[0].containerResource.container", "Required value: must specify a container"),
    ({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}},
     "spec.behavior.scaleUp.policies[0].value", "Invalid value: 0: must be greater than zero"),
    ({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 3600}]}}},
     "spec.behavior.scaleUp.policies[0].periodSeconds", "Invalid value: 3600: must be less than or equal to 1800"),
    ({"behavior": {"scaleUp": {"policies": [{"type": "Nodes", "value": 1, "periodSeconds": 15}]}}},
     "spec.behavior.scaleUp.policies[0].type", 'Unsupported value: "Nodes": supported values: "Percent", "Pods"'),
    ({"behavior": {"scaleDown": {"selectPolicy": "Avg"}}}, "spec.behavior.scaleDown.selectPolicy",
     'Unsupported value: "Avg": supported values: "Disabled", "Max", "Min"'),
    ({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 4000}}},
     "spec.behavior.scaleDown.stabilizationWindowSeconds", "Invalid value: 4000: must be less than or equal to 3600"),
    ({"behavior": {"scaleDown": {"policies": []}}}, "spec.behavior.scaleDown.policies",
     "Required value: must specify at least one Policy"),
]


@pytest.mark.parametrize(("spec", "field", "message"), CASES)
def test_hpa_rule(spec: dict[str, Any], field: str, message: str) -> None:
    causes = run("HorizontalPodAutoscaler", hpa(**spec))
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]
