"""Resource names and quantities: container requirements, quota and limit-range rules.

Mirrors ``pkg/apis/core/helper`` and the resource part of ``pkg/apis/core/validation``:
which resource names are standard for containers, quotas and limit ranges, which are
extended (``example.com/gpu``) and integer-only, and ``validateResourceRequirements``
(requests ≤ limits, requests = limits for non-overcommittable resources, non-negative,
integer counts). :func:`parse_field` turns a quantity field into a
:class:`~gitkube.api.quantity.Quantity` or a Kubernetes-worded cause.
:func:`canonicalize_list` rewrites a ``ResourceList`` in canonical form, as a round trip
through the real API server does (``0.5`` -> ``500m``).

Pure; used by the pod, quota, limit-range and node strategies.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.quantity import Quantity, QuantityError, parse_quantity
from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.errors import Cause

__all__ = [
    "canonicalize_list",
    "is_extended_resource_name",
    "is_hugepage",
    "is_integer_resource",
    "is_native_resource",
    "is_overcommit_allowed",
    "parse_field",
    "parse_list",
    "validate_container_resource_name",
    "validate_quota_resource_name",
    "validate_requirements",
    "validate_resource_name",
    "validate_resource_quantity",
]

_STANDARD_CONTAINER = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "services", "replicationcontrollers",
    "resourcequotas", "secrets", "persistentvolumeclaims", "configmaps", "storage", "requests.storage",
    "services.nodeports", "services.loadbalancers",
})
_STANDARD_QUOTA = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods",
    "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
})
_INTEGER = frozenset({
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
})


def is_hugepage(name: str) -> bool:
    return name.startswith("hugepages-")


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource_name(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not names.is_qualified_name("requests." + name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepage(name)


def is_integer_resource(name: str) -> bool:
    return name in _INTEGER or is_extended_resource_name(name)


def validate_resource_name(name: str, path: str) -> list[Cause]:
    """``validateResourceName``: a qualified name; unprefixed names must be standard."""
    out = [c.invalid(path, name, msg) for msg in names.is_qualified_name(name)]
    if out:
        return out
    if "/" not in name and not (name in _STANDARD or is_hugepage(name) or name.startswith("requests.hugepages-")):
        out.append(c.invalid(path, name, "must be a standard resource type or fully qualified"))
    return out


def validate_container_resource_name(name: str, path: str) -> list[Cause]:
    out = validate_resource_name(name, path)
    if "/" not in name:
        if not (name in _STANDARD_CONTAINER or is_hugepage(name)):
            out.append(c.invalid(path, name, "must be a standard resource for containers"))
    elif not is_native_resource(name) and not is_extended_resource_name(name):
        out.append(c.invalid(path, name, "doesn't follow extended resource name standard"))
    return out


def validate_quota_resource_name(name: str, path: str) -> list[Cause]:
    out = validate_resource_name(name, path)
    if "/" not in name and not (name in _STANDARD_QUOTA or name.startswith("requests.hugepages-")):
        out.append(c.invalid(path, name, "must be a standard resource for quota"))
    return out


def parse_field(value: Any, path: str) -> tuple[Quantity | None, list[Cause]]:
    """Parse a quantity field; an unparsable one yields the decoder's message as a cause."""
    try:
        return parse_quantity(value), []
    except QuantityError as exc:
        shown = value if isinstance(value, str | int | float) else c.render(value)
        return None, [c.invalid(path, shown, str(exc))]


def parse_list(resources: Any, path: str) -> tuple[dict[str, Quantity], list[Cause]]:
    """Parse a ``ResourceList`` (name -> quantity); bad entries become causes."""
    parsed: dict[str, Quantity] = {}
    out: list[Cause] = []
    if not isinstance(resources, dict):
        return parsed, out
    for name, value in resources.items():
        quantity, errs = parse_field(value, c.key(path, str(name)))
        out += errs
        if quantity is not None:
            parsed[str(name)] = quantity
    return parsed, out


def canonicalize_list(resources: Any) -> None:
    """Rewrite every valid quantity of a ``ResourceList`` in place in canonical form."""
    if not isinstance(resources, dict):
        return
    for name, value in list(resources.items()):
        try:
            resources[name] = str(parse_quantity(value))
        except QuantityError:
            continue


def validate_resource_quantity(name: str, quantity: Quantity, path: str) -> list[Cause]:
    """``ValidateResourceQuantityValue``: non-negative; whole numbers for integer resources."""
    out: list[Cause] = []
    if quantity.sign() < 0:
        out.append(c.invalid(path, str(quantity), "must be greater than or equal to 0"))
    if is_integer_resource(name) and quantity.milli_value() % 1000 != 0:
        out.append(c.invalid(path, quantity, "must be an integer"))
    return out


def validate_requirements(requirements: Any, path: str) -> list[Cause]:
    """``ValidateContainerResourceRequirements`` for a container's ``resources``."""
    out: list[Cause] = []
    if not isinstance(requirements, dict):
        return out
    lim_path = c.child(path, "limits")
    req_path = c.child(path, "requests")
    limits, errs = parse_list(requirements.get("limits"), lim_path)
    out += errs
    requests, errs = parse_list(requirements.get("requests"), req_path)
    out += errs
    lim_cpu_mem = req_cpu_mem = lim_huge = req_huge = False
    for name, quantity in limits.items():
        fpath = c.key(lim_path, name)
        out += validate_container_resource_name(name, fpath)
        out += validate_resource_quantity(name, quantity, fpath)
        lim_huge = lim_huge or is_hugepage(name)
        lim_cpu_mem = lim_cpu_mem or name in ("cpu", "memory")
    for name, quantity in requests.items():
        fpath = c.key(req_path, name)
        out += validate_container_resource_name(name, fpath)
        out += validate_resource_quantity(name, quantity, fpath)
        limit = limits.get(name)
        if limit is not None:
            if quantity != limit and not is_overcommit_allowed(name):
                out.append(c.invalid(req_path, str(quantity), f"must be equal to {name} limit of {limit}"))
            elif quantity > limit:
                out.append(c.invalid(req_path, str(quantity),
                                     f"must be less than or equal to {name} limit of {limit}"))
        elif not is_overcommit_allowed(name):
            out.append(c.required(lim_path, "Limit must be set for non overcommitable resources"))
        req_huge = req_huge or is_hugepage(name)
        req_cpu_mem = req_cpu_mem or name in ("cpu", "memory")
    if not lim_cpu_mem and not req_cpu_mem and (req_huge or lim_huge):
        out.append(c.forbidden(path, "HugePages require cpu or memory"))
    return out
