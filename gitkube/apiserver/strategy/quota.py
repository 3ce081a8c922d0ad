"""ResourceQuota and LimitRange strategies.

ResourceQuota: every ``spec.hard`` (and status) entry must be a known quota resource (or a
qualified name such as ``count/deployments.apps``) with a non-negative, and for object
counts whole, quantity; scopes must be known, apply to the listed resources and not
conflict; ``spec.scopes`` is immutable. LimitRange: item types Container, Pod or
PersistentVolumeClaim (or qualified), resource names fitting the type, and
``min ≤ defaultRequest ≤ default ≤ max`` with the ratio rules of ``ValidateLimitRange``;
Container items get ``SetDefaults_LimitRangeItem`` (default limit from max, default request
from default limit or min). Quantities are rewritten in canonical form.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.quantity import Quantity
from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_list, get_str
from gitkube.apiserver.strategy.resources import (
    canonicalize_list,
    is_overcommit_allowed,
    parse_list,
    validate_container_resource_name,
    validate_quota_resource_name,
    validate_resource_name,
    validate_resource_quantity,
)
from gitkube.errors import Cause

__all__ = [
    "LIMITRANGE",
    "RESOURCEQUOTA",
    "default_limit_range",
    "default_quota",
    "validate_limit_range",
    "validate_quota",
]

_SCOPES = frozenset({"Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                     "CrossNamespacePodAffinity"})
_POD_COUNT = frozenset({"pods"})
_POD_COMPUTE = frozenset({"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"})
_STANDARD_QUOTA_CHECK = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "configmaps", "persistentvolumeclaims",
    "services.nodeports", "services.loadbalancers",
})
_LIMIT_TYPES = frozenset({"Pod", "Container", "PersistentVolumeClaim"})
_SINGLE_SCOPES = frozenset({"BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity"})


def _scope_valid_for(scope: str, resource: str) -> bool:
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"):
        return resource in _POD_COUNT or resource in _POD_COMPUTE
    if scope == "BestEffort":
        return resource in _POD_COUNT
    return True


def default_quota(obj: dict[str, Any]) -> None:
    canonicalize_list(get_dict(obj, "spec").get("hard"))
    status = get_dict(obj, "status")
    canonicalize_list(status.get("hard"))
    canonicalize_list(status.get("used"))


def _hard(resources: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    parsed, errs = parse_list(resources, path)
    out += errs
    for name, quantity in parsed.items():
        rpath = c.key(path, name)
        out += validate_quota_resource_name(name, rpath)
        out += validate_resource_quantity(name, quantity, rpath)
    return out


def _conflicting(scopes: set[str]) -> bool:
    return {"BestEffort", "NotBestEffort"} <= scopes or {"Terminating", "NotTerminating"} <= scopes


def validate_quota(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out = _hard(spec.get("hard"), "spec.hard")
    hard_names = sorted(get_dict(spec, "hard"))
    scopes = [s for s in get_list(spec, "scopes") if isinstance(s, str)]
    for scope in scopes:
        if scope not in _SCOPES:
            out.append(c.invalid("spec.scopes", scopes, "unsupported scope"))
        for name in hard_names:
            if name in _STANDARD_QUOTA_CHECK and not _scope_valid_for(scope, name):
                out.append(c.invalid("spec.scopes", scopes, "unsupported scope applied to resource"))
    if _conflicting(set(scopes)):
        out.append(c.invalid("spec.scopes", scopes, "conflicting scopes"))
    selector = spec.get("scopeSelector")
    if isinstance(selector, dict):
        path = "spec.scopeSelector.matchExpressions"
        seen: set[str] = set()
        for expr in get_list(selector, "matchExpressions"):
            scope = get_str(expr, "scopeName")
            op = get_str(expr, "operator")
            values = get_list(expr, "values")
            if scope not in _SCOPES:
                out.append(c.invalid(c.child(path, "scopeName"), scope, "unsupported scope"))
            for name in hard_names:
                if name in _STANDARD_QUOTA_CHECK and not _scope_valid_for(scope, name):
                    out.append(c.invalid(path, selector, "unsupported scope applied to resource"))
            if scope in _SINGLE_SCOPES and op != "Exists":
                out.append(c.invalid(c.child(path, "operator"), op,
                                     "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, "
                                     "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
                                     "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
            if op in ("In", "NotIn"):
                if not values:
                    out.append(c.required(c.child(path, "values"),
                                          "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
            elif op in ("Exists", "DoesNotExist"):
                if values:
                    out.append(c.invalid(c.child(path, "values"), values,
                                         "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
            else:
                out.append(c.invalid(c.child(path, "operator"), op, "not a valid selector operator"))
            seen.add(scope)
        if _conflicting(seen):
            out.append(c.invalid(path, scopes, "conflicting scopes"))
    status = get_dict(obj, "status")
    out += _hard(status.get("hard"), "status.hard")
    out += _hard(status.get("used"), "status.used")
    if old is not None:
        old_scopes = {s for s in get_list(get_dict(old, "spec"), "scopes") if isinstance(s, str)}
        if set(scopes) != old_scopes:
            out.append(c.immutable("spec.scopes", scopes))
    return out


# -- LimitRange --------------------------------------------------------------------------


def default_limit_range(obj: dict[str, Any]) -> None:
    for item in get_list(get_dict(obj, "spec"), "limits"):
        if not isinstance(item, dict):
            continue
        for name in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            canonicalize_list(item.get(name))
        if get_str(item, "type") != "Container":
            continue
        default_limits = dict(get_dict(item, "default"))
        for key, value in get_dict(item, "max").items():
            default_limits.setdefault(key, value)
        default_requests = dict(get_dict(item, "defaultRequest"))
        for key, value in default_limits.items():
            default_requests.setdefault(key, value)
        for key, value in get_dict(item, "min").items():
            default_requests.setdefault(key, value)
        if default_limits:
            ensure_dict(item, "default").update(default_limits)
        if default_requests:
            ensure_dict(item, "defaultRequest").update(default_requests)


def _limit_resource_name(kind: str, name: str, path: str) -> list[Cause]:
    if kind in ("Pod", "Container"):
        return validate_container_resource_name(name, path)
    return validate_resource_name(name, path)


def _ratio_limit(max_q: Quantity, min_q: Quantity) -> str:
    if min_q.is_zero():
        return "+Inf"
    return f"{float(max_q.value / min_q.value):f}"


def validate_limit_range(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    seen_types: set[str] = set()
    for i, item in enumerate(get_list(get_dict(obj, "spec"), "limits")):
        ipath = c.index("spec.limits", i)
        kind = get_str(item, "type")
        type_errs = [c.invalid(c.child(ipath, "type"), kind, m) for m in names.is_qualified_name(kind)]
        if not type_errs and "/" not in kind and kind not in _LIMIT_TYPES:
            type_errs.append(c.invalid(c.child(ipath, "type"), kind, "must be a standard limit type or fully qualified"))
        out += type_errs
        if kind in seen_types:
            out.append(c.duplicate(c.child(ipath, "type"), kind))
        seen_types.add(kind)
        lists: dict[str, dict[str, Quantity]] = {}
        for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            fpath = c.child(ipath, field)
            parsed, errs = parse_list(item.get(field) if isinstance(item, dict) else None, fpath)
            out += errs
            if kind == "Pod" and field in ("default", "defaultRequest"):
                if parsed or errs:
                    out.append(c.forbidden(fpath, "may not be specified when `type` is 'Pod'"))
                parsed = {}
            for name in parsed:
                out += _limit_resource_name(kind, name, c.key(fpath, name))
            lists[field] = parsed
        mins, maxs = lists["min"], lists["max"]
        defaults, requests, ratios = lists["default"], lists["defaultRequest"], lists["maxLimitRequestRatio"]
        if kind == "PersistentVolumeClaim" and "storage" not in mins and "storage" not in maxs:
            out.append(c.required(c.child(ipath, "limits"),
                                  "either minimum or maximum storage value is required, but neither was provided"))
        for k in sorted(set().union(*lists.values())):
            mn, mx, df, dr, ratio = mins.get(k), maxs.get(k), defaults.get(k), requests.get(k), ratios.get(k)
            if mn is not None and mx is not None and mn > mx:
                out.append(c.invalid(c.key(c.child(ipath, "min"), k), mn, f"min value {mn} is greater than max value {mx}"))
            if dr is not None and mn is not None and mn > dr:
                out.append(c.invalid(c.key(c.child(ipath, "defaultRequest"), k), dr,
                                     f"min value {mn} is greater than default request value {dr}"))
            if dr is not None and mx is not None and dr > mx:
                out.append(c.invalid(c.key(c.child(ipath, "defaultRequest"), k), dr,
                                     f"default request value {dr} is greater than max value {mx}"))
            if dr is not None and df is not None and dr > df:
                out.append(c.invalid(c.key(c.child(ipath, "defaultRequest"), k), dr,
                                     f"default request value {dr} is greater than default limit value {df}"))
            if df is not None and mn is not None and mn > df:
                out.append(c.invalid(c.key(c.child(ipath, "default"), k), mn, f"min value {mn} is greater than default value {df}"))
            if df is not None and mx is not None and df > mx:
                out.append(c.invalid(c.key(c.child(ipath, "default"), k), mx, f"default value {df} is greater than max value {mx}"))
            if ratio is not None and ratio < Quantity(1):
                out.append(c.invalid(c.key(c.child(ipath, "maxLimitRequestRatio"), k), ratio, f"ratio {ratio} is less than 1"))
            if ratio is not None and mn is not None and mx is not None and not mn.is_zero() and ratio.value > mx.value / mn.value:
                out.append(c.invalid(c.key(c.child(ipath, "maxLimitRequestRatio"), k), ratio,
                                     f"ratio {ratio} is greater than max/min = {_ratio_limit(mx, mn)}"))
            if not is_overcommit_allowed(k) and df is not None and dr is not None and df != dr:
                out.append(c.invalid(c.key(c.child(ipath, "defaultRequest"), k), dr,
                                     f"default value {df} must equal to defaultRequest value {dr} in {k}"))
    return out


RESOURCEQUOTA = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_quota, validate=validate_quota)
LIMITRANGE = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_limit_range, validate=validate_limit_range)
