"""What Kubernetes refuses in an applied configuration (``ObjectToTyped`` of the patch).

:func:`validate` walks the configuration with its schema and reports, in
structured-merge-diff's words: fields the schema does not declare
(``.spec.replicass: field not declared in schema``), values of the wrong kind
(``.spec.replicas: expected numeric (int or float), got string``), list-map items without their
key fields and duplicate list keys (``duplicate entries for key [name="web"]``).

Callers: :mod:`.apply` (before merging; also for kubectl's last-applied annotation).
"""

from __future__ import annotations

from typing import Any

from gitkube.api.fieldsv1 import Path, PathElement, field_pe, path_string, pe_string
from gitkube.api.schema import Schema
from gitkube.api.typed import TypedError, child_schema, item_pe, list_info

__all__ = ["validate"]


def validate(value: Any, node: Schema | None) -> list[str]:
    """Why Kubernetes would refuse ``value`` as an applied configuration (empty when fine).

    Messages read like structured-merge-diff's: ``.spec.replicass: field not declared in schema``.
    """
    errors: list[str] = []
    _validate(value, node, (), errors)
    return errors


def _validate(value: Any, node: Schema | None, path: Path, errors: list[str]) -> None:
    if node is None or value is None:
        return
    where = path_string(path)
    if isinstance(value, dict):
        if not node.is_object:
            errors.append(f"{where}: expected {_expected(node)}, got map")
            return
        for key, val in value.items():
            sub, declared = child_schema(node, key)
            if not declared and sub is None and node.closed:
                errors.append(f"{path_string((*path, field_pe(key)))}: field not declared in schema")
                continue
            _validate(val, sub, (*path, field_pe(key)), errors)
    elif isinstance(value, list):
        if not node.is_array:
            errors.append(f"{where}: expected {_expected(node)}, got list")
            return
        rel, keys = list_info(node)
        items = node.items()
        seen: set[PathElement] = set()
        for i, item in enumerate(value):
            try:
                pe = item_pe(rel, keys, i, item)
            except TypedError as exc:
                errors.append(f"{where}: element {i}: {exc}")
                continue
            if rel != "atomic" and pe in seen:
                errors.append(f"{where}: duplicate entries for key {pe_string(pe)}")
                continue
            seen.add(pe)
            _validate(item, items, (*path, pe), errors)
    else:
        problem = _scalar_problem(value, node)
        if problem:
            errors.append(f"{where}: {problem}")


def _expected(node: Schema) -> str:
    if node.is_object:
        return "map"
    if node.is_array:
        return "list"
    types = node.types - {"null"}
    if types & {"integer", "number"}:
        return "numeric (int or float)"
    if "boolean" in types:
        return "boolean"
    return "string"


def _scalar_problem(value: Any, node: Schema) -> str:
    """structured-merge-diff's scalar check, with its (Go-formatted) wording."""
    if node.is_object or node.is_array:
        return f"expected {_expected(node)}, got {_scalar_kind(value)}"
    if node.is_int_or_string or node.is_quantity:
        return ""  # untyped scalars in the Kubernetes schema: any scalar decodes
    types = node.types - {"null"}
    if not types:
        return ""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if types & {"integer", "number"}:
        return "" if numeric else f"expected numeric (int or float), got {_scalar_kind(value)}"
    if "boolean" in types:
        return "" if isinstance(value, bool) else f"expected boolean, got &{{{_go_value(value)}}}"
    if "string" in types and not isinstance(value, str):
        return f"expected string, got &value.valueUnstructured{{Value:{_go_value(value, sharp=True)}}}"
    return ""


def _go_value(value: Any, sharp: bool = False) -> str:
    """Go's ``%v`` (or ``%#v``) of a decoded JSON scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and not sharp:
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"' if sharp else value
    return str(value)


def _scalar_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"
