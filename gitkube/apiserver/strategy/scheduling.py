"""Scheduling fields: tolerations, taints, node/pod affinity, topology spread constraints.

``ValidateTolerations``, ``validateNodeTaints``, ``validateAffinity`` and
``validateTopologySpreadConstraints`` of ``pkg/apis/core/validation``, with their messages.
The scheduler relies on these having run: operators are known, topology keys present,
weights within 1-100, taint effects one of NoSchedule, PreferNoSchedule, NoExecute.

Pure; called by the pod-spec and node strategies.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import get_dict, get_int, get_list, get_str
from gitkube.apiserver.strategy.meta import validate_label_name, validate_label_selector
from gitkube.errors import Cause

__all__ = [
    "TAINT_EFFECTS",
    "validate_affinity",
    "validate_taint_effect",
    "validate_taints",
    "validate_tolerations",
    "validate_topology_spread",
]

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def validate_taint_effect(effect: str, allow_empty: bool, path: str) -> list[Cause]:
    if not allow_empty and not effect:
        return [c.required(path)]
    if effect not in TAINT_EFFECTS:
        return [c.not_supported(path, effect, TAINT_EFFECTS)]
    return []


def validate_tolerations(tolerations: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, tol in enumerate(tolerations if isinstance(tolerations, list) else []):
        tpath = c.index(path, i)
        key = get_str(tol, "key")
        op = get_str(tol, "operator")
        value = get_str(tol, "value")
        effect = get_str(tol, "effect")
        if key:
            out += validate_label_name(key, c.child(tpath, "key"))
        if not key and op != "Exists":
            out.append(c.invalid(c.child(tpath, "operator"), op,
                                 'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if get_int(tol, "tolerationSeconds") is not None and effect != "NoExecute":
            out.append(c.invalid(c.child(tpath, "effect"), effect,
                                 "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", ""):
            msgs = names.is_valid_label_value(value)
            if msgs:
                out.append(c.invalid(c.child(tpath, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                out.append(c.invalid(c.child(tpath, "operator"), tol, "value must be empty when `operator` is 'Exists'"))
        else:
            out.append(c.not_supported(c.child(tpath, "operator"), op, ("Equal", "Exists")))
        if effect:
            out += validate_taint_effect(effect, True, c.child(tpath, "effect"))
    return out


def validate_taints(taints: Any, path: str) -> list[Cause]:
    """``validateNodeTaints``: valid key/value/effect, unique by (key, effect)."""
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints if isinstance(taints, list) else []):
        tpath = c.index(path, i)
        key = get_str(taint, "key")
        effect = get_str(taint, "effect")
        out += validate_label_name(key, c.child(tpath, "key"))
        msgs = names.is_valid_label_value(get_str(taint, "value"))
        if msgs:
            out.append(c.invalid(c.child(tpath, "value"), get_str(taint, "value"), ";".join(msgs)))
        out += validate_taint_effect(effect, False, c.child(tpath, "effect"))
        if (key, effect) in seen:
            out.append(c.duplicate(tpath, taint, "taints must be unique by key and effect pair"))
            continue
        seen.add((key, effect))
    return out


def _node_selector_requirement(req: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    op = get_str(req, "operator")
    values = get_list(req, "values")
    if op in ("In", "NotIn"):
        if not values:
            out.append(c.required(c.child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            out.append(c.forbidden(c.child(path, "values"),
                                   "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            out.append(c.required(c.child(path, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        out.append(c.invalid(c.child(path, "operator"), op, "not a valid selector operator"))
    out += validate_label_name(get_str(req, "key"), c.child(path, "key"))
    for j, value in enumerate(values):
        if isinstance(value, str):
            out += [c.invalid(c.index(c.child(path, "values"), j), value, m) for m in names.is_valid_label_value(value)]
    return out


def _node_field_requirement(req: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    op = get_str(req, "operator")
    values = get_list(req, "values")
    if op in ("In", "NotIn"):
        if len(values) != 1:
            out.append(c.required(c.child(path, "values"),
                                  "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
    else:
        out.append(c.invalid(c.child(path, "operator"), op, "not a valid selector operator"))
    key = get_str(req, "key")
    if key != "metadata.name":
        out.append(c.invalid(c.child(path, "key"), key, "not a valid field selector key"))
    else:
        for j, value in enumerate(values):
            if isinstance(value, str):
                out += [c.invalid(c.index(c.child(path, "values"), j), value, m)
                        for m in names.name_is_dns_subdomain(value, False)]
    return out


def _node_selector_term(term: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for j, req in enumerate(get_list(term, "matchExpressions")):
        out += _node_selector_requirement(req, c.index(c.child(path, "matchExpressions"), j))
    for j, req in enumerate(get_list(term, "matchFields")):
        out += _node_field_requirement(req, c.index(c.child(path, "matchFields"), j))
    return out


def _weight(term: Any, path: str) -> list[Cause]:
    weight = get_int(term, "weight") or 0
    if weight <= 0 or weight > 100:
        return [c.invalid(c.child(path, "weight"), weight, "must be in the range 1-100")]
    return []


def _pod_affinity_term(term: Any, path: str) -> list[Cause]:
    out = validate_label_selector(term.get("labelSelector") if isinstance(term, dict) else None,
                                  c.child(path, "labelSelector"))
    out += validate_label_selector(term.get("namespaceSelector") if isinstance(term, dict) else None,
                                   c.child(path, "namespaceSelector"))
    for ns in get_list(term, "namespaces"):
        if isinstance(ns, str):
            out += [c.invalid(c.child(path, "namespace"), ns, m) for m in names.name_is_dns_label(ns, False)]
    topology_key = get_str(term, "topologyKey")
    if not topology_key:
        out.append(c.required(c.child(path, "topologyKey"), "can not be empty"))
    return out + validate_label_name(topology_key, c.child(path, "topologyKey"))


def validate_affinity(affinity: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    node = get_dict(affinity, "nodeAffinity")
    npath = c.child(path, "nodeAffinity")
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        rpath = c.child(npath, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
        terms = get_list(required, "nodeSelectorTerms")
        if not terms:
            out.append(c.required(rpath, "must have at least one node selector term"))
        for i, term in enumerate(terms):
            out += _node_selector_term(term, c.index(rpath, i))
    for i, term in enumerate(get_list(node, "preferredDuringSchedulingIgnoredDuringExecution")):
        tpath = c.index(c.child(npath, "preferredDuringSchedulingIgnoredDuringExecution"), i)
        out += _weight(term, tpath)
        out += _node_selector_term(get_dict(term, "preference"), c.child(tpath, "preference"))
    for kind in ("podAffinity", "podAntiAffinity"):
        section = get_dict(affinity, kind)
        kpath = c.child(path, kind)
        for i, term in enumerate(get_list(section, "requiredDuringSchedulingIgnoredDuringExecution")):
            out += _pod_affinity_term(term, c.index(c.child(kpath, "requiredDuringSchedulingIgnoredDuringExecution"), i))
        for i, term in enumerate(get_list(section, "preferredDuringSchedulingIgnoredDuringExecution")):
            tpath = c.index(c.child(kpath, "preferredDuringSchedulingIgnoredDuringExecution"), i)
            out += _weight(term, tpath)
            out += _pod_affinity_term(get_dict(term, "podAffinityTerm"), c.child(tpath, "podAffinityTerm"))
    return out


def validate_topology_spread(constraints: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    items = constraints if isinstance(constraints, list) else []
    for i, con in enumerate(items):
        cpath = c.index(path, i)
        max_skew = get_int(con, "maxSkew") or 0
        if max_skew <= 0:
            out.append(c.invalid(c.child(cpath, "maxSkew"), max_skew, "must be greater than zero"))
        if not get_str(con, "topologyKey"):
            out.append(c.required(c.child(cpath, "topologyKey"), "can not be empty"))
        action = get_str(con, "whenUnsatisfiable")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            out.append(c.not_supported(c.child(cpath, "whenUnsatisfiable"), action, ("DoNotSchedule", "ScheduleAnyway")))
        pair = (get_str(con, "topologyKey"), action)
        if any((get_str(o, "topologyKey"), get_str(o, "whenUnsatisfiable")) == pair for o in items[i + 1:]):
            out.append(c.duplicate(c.child(cpath, "{topologyKey, whenUnsatisfiable}"), f"{{{pair[0]}, {pair[1]}}}"))
        min_domains = get_int(con, "minDomains")
        if min_domains is not None:
            if min_domains <= 0:
                out.append(c.invalid(c.child(cpath, "minDomains"), min_domains, "must be greater than zero"))
            if action != "DoNotSchedule":
                out.append(c.invalid(c.child(cpath, "minDomains"), min_domains,
                                     f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"))
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            value = con.get(policy) if isinstance(con, dict) else None
            if isinstance(value, str) and value not in ("Honor", "Ignore"):
                out.append(c.not_supported(c.child(cpath, policy), value, ("Honor", "Ignore")))
        out += validate_label_selector(con.get("labelSelector") if isinstance(con, dict) else None,
                                       c.child(cpath, "labelSelector"))
    return out
