"""ObjectMeta, label, annotation and label-selector validation (apimachinery's rules).

- :func:`validate_object_meta` is ``ValidateObjectMeta``: name (or generateName) against the
  kind's name rule, namespace presence and format, labels, annotations (keys and the 256 KiB
  total), ownerReferences, finalizers. On update (``is_update``) the name and namespace are
  not re-checked: their immutability is the generic registry's job.
- :func:`validate_labels`, :func:`validate_annotations`, :func:`validate_label_selector` are
  the ``metav1/validation`` helpers with their exact paths and messages.
- :func:`selector_matches` answers "does this LabelSelector match these labels", using
  :mod:`gitkube.api.selectors`.

Pure; called by :mod:`gitkube.apiserver.strategy` for every kind and by the workload
strategies for their selectors and pod templates.
"""

from __future__ import annotations

from typing import Any

from gitkube import errors
from gitkube.api import selectors
from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import NameFn, get_dict, get_int, get_list, get_str, is_int
from gitkube.errors import Cause

__all__ = [
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "nonnegative",
    "selector_is_empty",
    "selector_matches",
    "validate_annotations",
    "validate_label_name",
    "validate_label_selector",
    "validate_labels",
    "validate_object_meta",
    "validate_template_meta",
]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_label_name(name: str, path: str) -> list[Cause]:
    return [c.invalid(path, name, msg) for msg in names.is_qualified_name(name)]


def validate_labels(labels: Any, path: str) -> list[Cause]:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    out: list[Cause] = []
    if not isinstance(labels, dict):
        return out
    for k, v in labels.items():
        if isinstance(k, str):
            out += validate_label_name(k, path)
        if isinstance(v, str):
            out += [c.invalid(path, v, msg) for msg in names.is_valid_label_value(v)]
    return out


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    """``ValidateAnnotations``: keys are qualified names (case-insensitive), total ≤ 256 KiB."""
    out: list[Cause] = []
    if not isinstance(annotations, dict):
        return out
    total = 0
    for k, v in annotations.items():
        if not isinstance(k, str):
            continue
        out += [c.invalid(path, k, msg) for msg in names.is_qualified_name(k.lower())]
        total += len(k.encode()) + (len(v.encode()) if isinstance(v, str) else 0)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(c.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return out


def validate_label_selector(selector: Any, path: str) -> list[Cause]:
    """``ValidateLabelSelector`` (strict label values, as for every selector since 1.27)."""
    out: list[Cause] = []
    if not isinstance(selector, dict):
        return out
    out += validate_labels(selector.get("matchLabels"), c.child(path, "matchLabels"))
    for i, expr in enumerate(get_list(selector, "matchExpressions")):
        epath = c.index(c.child(path, "matchExpressions"), i)
        op = expr.get("operator") if isinstance(expr, dict) else None
        values = get_list(expr, "values")
        if op in ("In", "NotIn"):
            if not values:
                out.append(c.required(c.child(epath, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                out.append(c.forbidden(c.child(epath, "values"),
                                       "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            out.append(c.invalid(c.child(epath, "operator"), op if op is not None else "",
                                 "not a valid selector operator"))
        out += validate_label_name(get_str(expr, "key"), c.child(epath, "key"))
        for j, value in enumerate(values):
            if isinstance(value, str):
                out += [c.invalid(c.index(c.child(epath, "values"), j), value, msg)
                        for msg in names.is_valid_label_value(value)]
    return out


def selector_matches(selector: Any, labels: dict[str, str]) -> bool | None:
    """Whether a LabelSelector dict matches ``labels``; ``None`` if it cannot be parsed."""
    if not isinstance(selector, dict):
        return None
    try:
        return selectors.from_label_selector_spec(selector).matches(labels)
    except (errors.APIError, TypeError, AttributeError):
        return None


def selector_is_empty(selector: Any) -> bool:
    return not get_dict(selector, "matchLabels") and not get_list(selector, "matchExpressions")


def validate_template_meta(meta: Any, path: str) -> list[Cause]:
    """Labels and annotations of an embedded template (``ValidatePodTemplateSpec`` style).

    Kubernetes reports these at ``<template>.labels``, not ``<template>.metadata.labels``.
    """
    return validate_labels(get_dict(meta, "labels"), c.child(path, "labels")) + validate_annotations(
        get_dict(meta, "annotations"), c.child(path, "annotations")
    )


def _validate_owner_references(refs: list[Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = get_str(ref, "apiVersion")
        kind = get_str(ref, "kind")
        version = api_version.rpartition("/")[2]
        if not version:
            out.append(c.invalid(c.child(path, "apiVersion"), api_version, "version must not be empty"))
        if not kind:
            out.append(c.invalid(c.child(path, "kind"), kind, "must not be empty"))
        if not get_str(ref, "name"):
            out.append(c.invalid(c.child(path, "name"), get_str(ref, "name"), "must not be empty"))
        if not get_str(ref, "uid"):
            out.append(c.invalid(c.child(path, "uid"), get_str(ref, "uid"), "must not be empty"))
        if api_version == "v1" and kind == "Event":
            out.append(c.invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{get_str(ref, 'name')}"
            if first_controller:
                out.append(c.invalid(path, refs, "Only one reference can have Controller set to true. "
                                     f'Found "true" in references for {first_controller} and {current}'))
            else:
                first_controller = current
    return out


def _validate_finalizers(finalizers: list[Any], path: str, kube_finalizers: bool) -> list[Cause]:
    out: list[Cause] = []
    strings = [f for f in finalizers if isinstance(f, str)]
    for f in strings:
        out += [c.invalid(path, f, msg) for msg in names.is_qualified_name(f)]
    if "orphan" in strings and "foregroundDeletion" in strings:
        out.append(c.invalid(path, strings, "finalizer orphan and foregroundDeletion cannot be both set"))
    if kube_finalizers:
        for i, f in enumerate(finalizers):
            if isinstance(f, str) and "/" not in f and f not in _STANDARD_FINALIZERS:
                out.append(c.invalid(c.index(path, i), f,
                                     "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def validate_object_meta(
    meta: Any,
    *,
    namespaced: bool,
    name_fn: NameFn,
    is_update: bool = False,
    kube_finalizers: bool = True,
    path: str = "metadata",
) -> list[Cause]:
    """``ValidateObjectMeta`` (create) or the metadata part of ``ValidateObjectMetaUpdate``."""
    out: list[Cause] = []
    if not isinstance(meta, dict):
        meta = {}
    name = get_str(meta, "name")
    if not is_update:
        generate_name = get_str(meta, "generateName")
        if generate_name and not name:
            out += [c.invalid(c.child(path, "generateName"), generate_name, msg) for msg in name_fn(generate_name, True)]
        if not name and not generate_name:
            out.append(c.required(c.child(path, "name"), "name or generateName is required"))
        elif name:
            out += [c.invalid(c.child(path, "name"), name, msg) for msg in name_fn(name, False)]
        namespace = get_str(meta, "namespace")
        if namespaced:
            if not namespace:
                out.append(c.required(c.child(path, "namespace")))
            else:
                out += [c.invalid(c.child(path, "namespace"), namespace, msg)
                        for msg in names.name_is_dns_label(namespace, False)]
        elif namespace:
            out.append(c.forbidden(c.child(path, "namespace"), "not allowed on this type"))
    generation = meta.get("generation")
    if is_int(generation) and generation < 0:
        out.append(c.invalid(c.child(path, "generation"), generation, "must be greater than or equal to 0"))
    out += validate_labels(meta.get("labels"), c.child(path, "labels"))
    out += validate_annotations(meta.get("annotations"), c.child(path, "annotations"))
    out += _validate_owner_references(get_list(meta, "ownerReferences"), c.child(path, "ownerReferences"))
    out += _validate_finalizers(get_list(meta, "finalizers"), c.child(path, "finalizers"), kube_finalizers)
    return out


def nonnegative(obj: Any, name: str, path: str) -> list[Cause]:
    """``ValidateNonnegativeField`` for an optional integer field ``obj[name]``."""
    value = get_int(obj, name)
    if value is not None and value < 0:
        return [c.invalid(c.child(path, name), value, "must be greater than or equal to 0")]
    return []
