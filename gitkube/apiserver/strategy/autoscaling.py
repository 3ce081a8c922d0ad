"""The HorizontalPodAutoscaler (autoscaling/v2) strategy.

Defaults (``autoscaling/v2`` defaults.go): ``minReplicas: 1``; with no metrics, one
Resource metric on cpu at 80% average utilization; a given ``behavior`` is completed with
the default scale-up rules (max of 4 pods or 100% per 15s, no stabilization) and scale-down
rules (100% per 15s).

Validation (``pkg/apis/autoscaling/validation``): ``minReplicas`` ≥ 1, ``maxReplicas`` > 0 and
≥ ``minReplicas``, a ``scaleTargetRef`` with kind and name, each metric of a known type
carrying exactly its own source and a sound target (types Utilization/Value/AverageValue,
positive quantities and utilizations), and scaling rules with known policies.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_int, get_list, get_str
from gitkube.apiserver.strategy.resources import parse_field
from gitkube.errors import Cause

__all__ = [
    "HPA",
    "default_hpa",
    "validate_hpa",
]

_METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_SOURCE_FIELD = {"Object": "object", "Pods": "pods", "Resource": "resource", "External": "external",
                 "ContainerResource": "containerResource"}
_MAX_PERIOD = 1800
_MAX_STABILIZATION = 3600


def _scale_up_rules() -> dict[str, Any]:
    return {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _scale_down_rules() -> dict[str, Any]:
    return {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _complete(rules: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if isinstance(rules, dict):
        for name in ("selectPolicy", "stabilizationWindowSeconds", "policies"):
            if rules.get(name) is not None:
                defaults[name] = rules[name]
    return defaults


def _canonical_target(target: Any) -> None:
    if not isinstance(target, dict):
        return
    for name in ("value", "averageValue"):
        if target.get(name) is not None:
            quantity, errs = parse_field(target[name], "")
            if quantity is not None:
                target[name] = str(quantity)


def default_hpa(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not get_list(spec, "metrics") and spec.get("metrics") in (None, []):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    for metric in get_list(spec, "metrics"):
        for source in _SOURCE_FIELD.values():
            _canonical_target(get_dict(get_dict(metric, source), "target"))
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _complete(behavior.get("scaleUp"), _scale_up_rules())
        behavior["scaleDown"] = _complete(behavior.get("scaleDown"), _scale_down_rules())


def _object_ref(ref: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for name in ("kind", "name"):
        value = get_str(ref, name)
        if not value:
            out.append(c.required(c.child(path, name)))
        else:
            out += [c.invalid(c.child(path, name), value, m) for m in names.is_path_segment_name(value)]
    return out


def _metric_name(identifier: Any, path: str) -> list[Cause]:
    name = get_str(identifier, "name")
    if not name:
        return [c.required(c.child(path, "name"), "must specify a metric name")]
    return [c.invalid(c.child(path, "name"), name, m) for m in names.is_path_segment_name(name)]


def _target(target: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    kind = get_str(target, "type")
    if not kind:
        out.append(c.required(c.child(path, "type"), "must specify a metric target type"))
    if kind not in ("Utilization", "Value", "AverageValue"):
        out.append(c.invalid(c.child(path, "type"), kind, "must be either Utilization, Value, or AverageValue"))
    for name in ("value", "averageValue"):
        raw = target.get(name) if isinstance(target, dict) else None
        if raw is None:
            continue
        quantity, errs = parse_field(raw, c.child(path, name))
        out += errs
        if quantity is not None and quantity.sign() != 1:
            out.append(c.invalid(c.child(path, name), quantity, "must be positive"))
    utilization = get_int(target, "averageUtilization")
    if utilization is not None and utilization < 1:
        out.append(c.invalid(c.child(path, "averageUtilization"), utilization, "must be greater than 0"))
    return out


def _source(kind: str, source: dict[str, Any], path: str) -> list[Cause]:
    target = get_dict(source, "target")
    tpath = c.child(path, "target")
    has_value, has_average = target.get("value") is not None, target.get("averageValue") is not None
    has_utilization = target.get("averageUtilization") is not None
    out: list[Cause] = []
    if kind == "object":
        out += _object_ref(get_dict(source, "describedObject"), c.child(path, "describedObject"))
        out += _metric_name(get_dict(source, "metric"), c.child(path, "metric"))
        out += _target(target, tpath)
        if not has_value and not has_average:
            out.append(c.required(c.child(tpath, "averageValue"), "must set either a target value or averageValue"))
    elif kind == "external":
        out += _metric_name(get_dict(source, "metric"), c.child(path, "metric"))
        out += _target(target, tpath)
        if not has_value and not has_average:
            out.append(c.required(c.child(tpath, "averageValue"),
                                  "must set either a target value for metric or a per-pod target"))
        if has_value and has_average:
            out.append(c.forbidden(c.child(tpath, "value"),
                                   "may not set both a target value for metric and a per-pod target"))
    elif kind == "pods":
        out += _metric_name(get_dict(source, "metric"), c.child(path, "metric"))
        out += _target(target, tpath)
        if not has_average:
            out.append(c.required(c.child(tpath, "averageValue"), "must specify a positive target averageValue"))
    else:
        if not get_str(source, "name"):
            out.append(c.required(c.child(path, "name"), "must specify a resource name"))
        if kind == "containerResource":
            container = get_str(source, "container")
            if not container:
                out.append(c.required(c.child(path, "container"), "must specify a container"))
            else:
                out += [c.invalid(c.child(path, "container"), container, m) for m in names.is_dns1123_label(container)]
        out += _target(target, tpath)
        if not has_utilization and not has_average:
            out.append(c.required(c.child(tpath, "averageUtilization"),
                                  "must set either a target raw value or a target utilization"))
        if has_utilization and has_average:
            out.append(c.forbidden(c.child(tpath, "averageValue"),
                                   "may not set both a target raw value and a target utilization"))
    return out


def _metric(metric: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    kind = get_str(metric, "type")
    if not kind:
        out.append(c.required(c.child(path, "type"), "must specify a metric source type"))
    if kind not in _METRIC_TYPES:
        out.append(c.not_supported(c.child(path, "type"), kind, _METRIC_TYPES))
    present = [f for f in ("object", "external", "pods", "resource", "containerResource")
               if isinstance(metric, dict) and isinstance(metric.get(f), dict)]
    if present:
        out += _source(present[0], metric[present[0]], c.child(path, present[0]))
    expected = _SOURCE_FIELD.get(kind, "")
    if expected and expected not in present:
        out.append(c.required(c.child(path, expected), "must populate information for the given metric source"))
    if len(present) != 1:
        for other in present:
            if other != expected:
                out.append(c.forbidden(c.child(path, other), "must populate the given metric source only"))
    return out


def _rules(rules: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(rules, dict):
        return out
    window = get_int(rules, "stabilizationWindowSeconds")
    if window is not None and window < 0:
        out.append(c.invalid(c.child(path, "stabilizationWindowSeconds"), window, "must be greater than or equal to zero"))
    if window is not None and window > _MAX_STABILIZATION:
        out.append(c.invalid(c.child(path, "stabilizationWindowSeconds"), window,
                             f"must be less than or equal to {_MAX_STABILIZATION}"))
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Disabled", "Max", "Min"):
        out.append(c.not_supported(c.child(path, "selectPolicy"), select, ("Disabled", "Max", "Min")))
    policies = get_list(rules, "policies")
    if not policies:
        out.append(c.required(c.child(path, "policies"), "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        ppath = c.index(c.child(path, "policies"), i)
        kind = get_str(policy, "type")
        if kind not in ("Percent", "Pods"):
            out.append(c.not_supported(c.child(ppath, "type"), kind, ("Percent", "Pods")))
        value, period = get_int(policy, "value") or 0, get_int(policy, "periodSeconds") or 0
        if value <= 0:
            out.append(c.invalid(c.child(ppath, "value"), value, "must be greater than zero"))
        if period <= 0:
            out.append(c.invalid(c.child(ppath, "periodSeconds"), period, "must be greater than zero"))
        if period > _MAX_PERIOD:
            out.append(c.invalid(c.child(ppath, "periodSeconds"), period, f"must be less than or equal to {_MAX_PERIOD}"))
    return out


def validate_hpa(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    min_replicas = get_int(spec, "minReplicas")
    max_replicas = get_int(spec, "maxReplicas") or 0
    if min_replicas is not None and min_replicas < 1:
        out.append(c.invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    if max_replicas < 1:
        out.append(c.invalid("spec.maxReplicas", max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < min_replicas:
        out.append(c.invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"))
    out += _object_ref(get_dict(spec, "scaleTargetRef"), "spec.scaleTargetRef")
    for i, metric in enumerate(get_list(spec, "metrics")):
        out += _metric(metric, c.index("spec.metrics", i))
    behavior = get_dict(spec, "behavior")
    out += _rules(behavior.get("scaleUp"), "spec.behavior.scaleUp")
    out += _rules(behavior.get("scaleDown"), "spec.behavior.scaleDown")
    return out


HPA = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_hpa, validate=validate_hpa)
