"""Field validation against the Kubernetes schemas: unknown fields and wrong JSON types.

This is the API server's ``fieldValidation`` support. :func:`check_fields` reports every unknown
field (``spec.replicass``, ``spec.template.spec.containers[0].imagee``; unknown fields inside
``metadata`` count too) and every value of the wrong JSON type, the way the Kubernetes decoder
would see them. It uses one prebuilt ``jsonschema`` validator per kind (about 0.3 ms per object,
all errors collected) instead of ``kubernetes_validate.validate`` (about 5 ms, first error only).
:func:`drop_unknown` gives the ``fieldValidation=Ignore`` behaviour, Kubernetes' default for
clients that do not ask for strictness: unknown fields are silently dropped.

Callers: the API server's create/update/patch handlers (Strict -> 400 with
:meth:`FieldReport.strict_message`, Warn -> ``Warning`` headers, Ignore -> :func:`drop_unknown`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from gitkube.api.schema_defs import Schema, definition_name, definitions, schema_for
from gitkube.errors import Cause

__all__ = ["FieldReport", "check_fields", "drop_unknown", "format_path"]


@dataclass
class FieldReport:
    """What the decoder would complain about in one object."""

    unknown: list[str] = field(default_factory=list)
    type_errors: list[Cause] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.type_errors

    def strict_message(self) -> str:
        """Kubernetes' strict decoding message: ``strict decoding error: unknown field "spec.x", ...``."""
        return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in self.unknown)

    def warnings(self) -> list[str]:
        """One ``Warning`` header text per unknown field (``fieldValidation=Warn``)."""
        return [f'unknown field "{p}"' for p in self.unknown]


def format_path(parts: Iterable[str | int]) -> str:
    """``("spec", "containers", 0, "image")`` -> ``spec.containers[0].image``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@functools.cache
def _validator(name: str) -> Any:
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": definitions(),
        "$ref": f"#/$defs/{name}",
    }
    return jsonschema.Draft202012Validator(root)


_JSON_TYPE = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


def _json_type(value: Any) -> str:
    for typ, name in _JSON_TYPE.items():
        if isinstance(value, typ):
            return name
    return "value"


def check_fields(api_version: str, kind: str, obj: dict[str, Any]) -> FieldReport:
    """Every unknown field and wrongly typed value of ``obj``; an empty report for unknown kinds."""
    report = FieldReport()
    name = definition_name(api_version, kind)
    root = schema_for(api_version, kind)
    if name is None or root is None:
        return report
    for error in _validator(name).iter_errors(obj):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            declared = error.schema.get("properties") or {}
            for key in error.instance:
                if key not in declared:
                    report.unknown.append(format_path([*path, key]))
        elif error.validator == "type" or (error.validator == "oneOf" and error.instance is not None):
            report.type_errors.append(_type_cause(root, kind, path, error.instance))
    report.unknown.sort()
    return report


def _type_cause(root: Schema, kind: str, path: list[str | int], value: Any) -> Cause:
    """A cause worded like Go's ``json: cannot unmarshal string into Go struct field ...``."""
    struct_name = kind
    go_path: list[str] = []
    node: Schema | None = root
    for part in path:
        if node is None:
            break
        if isinstance(part, int):
            node = node.items()
            continue
        declared = node.field(part)
        if declared is not None:
            struct_name = node.short_name or struct_name
            go_path.append(part)
            node = declared
        else:
            node = node.additional()
    go_type = node.go_type if node is not None else "interface {}"
    message = (
        f"json: cannot unmarshal {_json_type(value)} into Go struct field "
        f"{struct_name}.{'.'.join(go_path)} of type {go_type}"
    )
    return Cause(field=format_path(path), message=message, reason="FieldValueTypeInvalid")


def drop_unknown(api_version: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields its schema does not declare (``fieldValidation=Ignore``)."""
    out = copy.deepcopy(obj)
    root = schema_for(api_version, kind)
    if root is not None:
        _drop(out, root)
    return out


def _drop(value: Any, node: Schema) -> None:
    if isinstance(value, dict):
        if node.is_struct:
            for key in list(value):
                sub = node.field(key)
                if sub is None:
                    if node.closed:
                        del value[key]
                    continue
                _drop(value[key], sub)
        else:
            sub = node.additional()
            if sub is not None:
                for item in value.values():
                    _drop(item, sub)
    elif isinstance(value, list):
        sub = node.items()
        if sub is not None:
            for item in value:
                _drop(item, sub)
