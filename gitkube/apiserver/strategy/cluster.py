"""Node, Event and Lease strategies.

- Node: taints (valid key and value, effect NoSchedule/PreferNoSchedule/NoExecute, unique by
  key and effect; Kubernetes reports them under ``metadata.taints``), pod CIDRs, capacity
  and allocatable quantities; ``podCIDRs`` and ``providerID`` may only go from unset to set.
  ``status.allocatable`` defaults to ``status.capacity``.
- Event (core/v1): the legacy rules Kubernetes keeps for v1 Events — the involved object's
  namespace must agree with the Event's, and Events carrying ``eventTime`` must name their
  reporting controller, instance, action and reason.
- Lease: ``leaseDurationSeconds`` positive, ``leaseTransitions`` non-negative.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_int, get_list, get_str
from gitkube.apiserver.strategy.meta import validate_label_name
from gitkube.apiserver.strategy.resources import canonicalize_list, parse_list, validate_resource_quantity
from gitkube.apiserver.strategy.scheduling import validate_taints
from gitkube.errors import Cause

__all__ = [
    "EVENT",
    "LEASE",
    "NODE",
    "default_node",
    "validate_event",
    "validate_lease",
    "validate_node",
]

_POD_CIDR_CHANGE = 'node updates may not change podCIDR except from "" to valid'


def default_node(obj: dict[str, Any]) -> None:
    status = get_dict(obj, "status")
    canonicalize_list(status.get("capacity"))
    canonicalize_list(status.get("allocatable"))
    capacity = status.get("capacity")
    if isinstance(capacity, dict) and capacity and status.get("allocatable") is None:
        ensure_dict(status, "allocatable").update(capacity)


def validate_node(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    # Kubernetes validates spec.taints at the path metadata.taints (ValidateNode passes the
    # metadata path); kept for identical messages.
    out = validate_taints(spec.get("taints"), "metadata.taints")
    status = get_dict(obj, "status")
    for field in ("capacity", "allocatable"):
        parsed, errs = parse_list(status.get(field), c.child("status", field))
        out += errs
        for name, quantity in parsed.items():
            out += validate_resource_quantity(name, quantity, c.child("status", field, name))
    cidrs = get_list(spec, "podCIDRs")
    for i, cidr in enumerate(cidrs):
        out += [c.invalid(c.index("spec.podCIDRs", i), cidr, m) for m in names.is_valid_cidr(cidr if isinstance(cidr, str) else "")]
    if len(cidrs) > 1:
        seen: set[Any] = set()
        for i, cidr in enumerate(cidrs):
            if cidr in seen:
                out.append(c.duplicate(c.index("spec.podCIDRs", i), cidr))
            seen.add(cidr)
    if old is not None:
        old_spec = get_dict(old, "spec")
        old_cidrs = get_list(old_spec, "podCIDRs")
        if old_cidrs and old_cidrs != cidrs:
            out.append(c.forbidden("spec.podCIDRs", _POD_CIDR_CHANGE))
        old_provider = get_str(old_spec, "providerID")
        if old_provider and old_provider != get_str(spec, "providerID"):
            out.append(c.forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
        seen_addresses: list[Any] = []
        for i, address in enumerate(get_list(status, "addresses")):
            if address in seen_addresses:
                out.append(c.duplicate(c.index("status.addresses", i), address))
            seen_addresses.append(address)
    return out


def _no_defaults(obj: dict[str, Any]) -> None:
    return None


def validate_event(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    namespace = get_str(get_dict(obj, "metadata"), "namespace")
    involved_ns = get_str(get_dict(obj, "involvedObject"), "namespace")
    mismatch = c.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not obj.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                out.append(mismatch)
        elif namespace != involved_ns:
            out.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            out.append(mismatch)
        controller = get_str(obj, "reportingComponent") or get_str(obj, "reportingController")
        if not controller:
            out.append(c.required("reportingController"))
        out += [c.invalid("reportingController", controller, m) for m in names.is_qualified_name(controller)]
        for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            value = get_str(obj, field)
            if not value:
                out.append(c.required(field))
            if len(value) > limit:
                out.append(c.invalid(field, "", f"can have at most {limit} characters"))
        if len(get_str(obj, "message")) > 1024:
            out.append(c.invalid("message", "", "can have at most 1024 characters"))
    out += [c.invalid("namespace", namespace, m) for m in names.is_dns1123_subdomain(namespace)]
    return out


def validate_lease(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    duration = get_int(spec, "leaseDurationSeconds")
    if duration is not None and duration <= 0:
        out.append(c.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = get_int(spec, "leaseTransitions")
    if transitions is not None and transitions < 0:
        out.append(c.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    holder = spec.get("preferredHolder")
    if isinstance(holder, str) and not holder:
        out.append(c.invalid("spec.preferredHolder", holder, "must be non-empty"))
    strategy = spec.get("strategy")
    if isinstance(strategy, str):
        out += validate_label_name(strategy, "spec.strategy")
    return out


NODE = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_node, validate=validate_node)
EVENT = KindStrategy(name_fn=names.name_is_dns_subdomain, default=_no_defaults, validate=validate_event)
LEASE = KindStrategy(name_fn=names.name_is_dns_subdomain, default=_no_defaults, validate=validate_lease,
                     kube_finalizers=False)
