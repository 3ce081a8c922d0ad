"""The Pod strategy: defaults, create validation and the pod update rules.

Create runs ``ValidatePodCreate``: the whole PodSpec, pod-only checks (no leading or
trailing whitespace in images, no ephemeral containers, no ``nodeName`` while scheduling
gates remain). Update runs ``ValidatePodUpdate``: the spec is validated again, containers
may not be added or removed, and apart from container images, ``activeDeadlineSeconds``
(only lowered, never unset), added tolerations, removed scheduling gates and a negative
grace period set to 1, nothing in ``spec`` may change: ``spec: Forbidden: pod updates may
not change fields other than `spec.containers[*].image`,...`` followed by a field diff.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_int, get_list, get_str
from gitkube.apiserver.strategy.pod_defaults import default_pod_only, default_pod_spec
from gitkube.apiserver.strategy.podspec import validate_pod_annotations, validate_pod_spec
from gitkube.apiserver.strategy.scheduling import validate_tolerations
from gitkube.errors import Cause

__all__ = [
    "STRATEGY",
    "UPDATABLE_POD_SPEC_FIELDS",
    "default",
    "normalize",
    "validate",
    "validate_pod",
    "validate_update",
]

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
_MAX_INT32 = 2**31 - 1


def normalize(value: Any) -> Any:
    """Drop null, zero and empty values so that omitted and zero fields compare equal
    (as ``apiequality.Semantic.DeepEqual`` does with Go's zero values and nil slices)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            n = normalize(v)
            if n is None or n is False or n == "" or (n == 0 and not isinstance(n, bool) and isinstance(n, int)):
                continue
            if isinstance(n, dict | list) and not n:
                continue
            out[k] = n
        return out
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = ["  core.PodSpec{"]
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            if name in old:
                lines.append(f"- \t{name}: {json.dumps(old[name], sort_keys=True)},")
            if name in new:
                lines.append(f"+ \t{name}: {json.dumps(new[name], sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def default(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if spec is None:
        spec = ensure_dict(obj, "spec")
    default_pod_spec(spec)
    default_pod_only(obj)


def _pod_only(spec: Any) -> list[Cause]:
    out: list[Cause] = []
    for kind in ("containers", "initContainers"):
        for i, ctr in enumerate(get_list(spec, kind)):
            image = get_str(ctr, "image")
            if image != image.strip():
                out.append(c.invalid(c.child(c.index(c.child("spec", kind), i), "image"), image,
                                     "must not have leading or trailing whitespace"))
    return out


def validate_pod(obj: dict[str, Any]) -> list[Cause]:
    """``validatePodMetadataAndSpec`` (the part of pod validation shared by create and update)."""
    meta = get_dict(obj, "metadata")
    spec = obj.get("spec")
    out = validate_pod_annotations(meta.get("annotations"), spec, "metadata.annotations")
    out += validate_pod_spec(spec, "spec", is_pod=True)
    return out + _pod_only(spec)


def _container_updates(new: list[Any], old: list[Any], path: str) -> tuple[list[Cause], bool]:
    if len(new) != len(old):
        return [c.forbidden(path, "pod updates may not add or remove containers")], True
    out: list[Cause] = []
    for i, ctr in enumerate(new):
        image = get_str(ctr, "image")
        if not image:
            out.append(c.required(c.child(c.index(path, i), "image")))
    return out, False


def _without_seconds(toleration: Any) -> Any:
    if not isinstance(toleration, dict):
        return toleration
    return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}


def _only_added_tolerations(new: list[Any], old: list[Any], path: str) -> list[Cause]:
    """``validateOnlyAddedTolerations``: every old toleration is kept (its seconds may change)."""
    candidates = [_without_seconds(t) for t in new]
    for old_tol in old:
        if _without_seconds(old_tol) not in candidates:
            return [c.forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return validate_tolerations(new, path)


def validate_update(obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    new_spec = get_dict(obj, "spec")
    old_spec = get_dict(old, "spec")
    out = validate_pod(obj)
    for kind in ("containers", "initContainers"):
        errs, stop = _container_updates(get_list(new_spec, kind), get_list(old_spec, kind), c.child("spec", kind))
        out += errs
        if stop:
            return out
    new_deadline, old_deadline = get_int(new_spec, "activeDeadlineSeconds"), get_int(old_spec, "activeDeadlineSeconds")
    if new_deadline is not None:
        if not 0 <= new_deadline <= _MAX_INT32:
            return out + [c.invalid("spec.activeDeadlineSeconds", new_deadline, names.inclusive_range_error(0, _MAX_INT32))]
        if old_deadline is not None and old_deadline < new_deadline:
            return out + [c.invalid("spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value")]
    elif old_deadline is not None:
        out.append(c.invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    out += _only_added_tolerations(get_list(new_spec, "tolerations"), get_list(old_spec, "tolerations"), "spec.tolerations")
    old_gates = {get_str(g, "name") for g in get_list(old_spec, "schedulingGates")}
    for i, gate in enumerate(get_list(new_spec, "schedulingGates")):
        if get_str(gate, "name") not in old_gates:
            out.append(c.forbidden(c.child(c.index("spec.schedulingGates", i), "name"),
                                   f"only deletion is allowed, but found new scheduling gate '{get_str(gate, 'name')}'"))
    if normalize(new_spec) == normalize(old_spec):
        return out
    munged = copy.deepcopy(new_spec)
    for kind in ("containers", "initContainers"):
        for ctr, old_ctr in zip(get_list(munged, kind), get_list(old_spec, kind), strict=False):
            if isinstance(ctr, dict):
                ctr["image"] = get_str(old_ctr, "image")
    for name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(name, None)
        if name in old_spec:
            munged[name] = copy.deepcopy(old_spec[name])
    old_grace = get_int(old_spec, "terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and get_int(munged, "terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if get_list(old_spec, "schedulingGates"):
        new_selector, old_selector = get_dict(munged, "nodeSelector"), get_dict(old_spec, "nodeSelector")
        if any(new_selector.get(k) != v for k, v in old_selector.items()):
            out.append(c.invalid("spec.nodeSelector", c.go_map(new_selector),
                                 "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
        elif "nodeSelector" in munged or "nodeSelector" in old_spec:
            munged["nodeSelector"] = copy.deepcopy(old_spec.get("nodeSelector"))
    norm_new, norm_old = normalize(munged), normalize(old_spec)
    if norm_new != norm_old:
        out.append(c.forbidden("spec", "pod updates may not change fields other than "
                               + ",".join(UPDATABLE_POD_SPEC_FIELDS) + "\n" + _diff(norm_old, norm_new)))
    return out


def validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    if old is not None:
        return validate_update(obj, old)
    out = validate_pod(obj)
    spec = get_dict(obj, "spec")
    if get_list(spec, "ephemeralContainers"):
        out.append(c.forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if get_str(spec, "nodeName") and get_list(spec, "schedulingGates"):
        out.append(c.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return out


STRATEGY = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default, validate=validate)
