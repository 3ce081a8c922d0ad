"""Field error builders worded exactly like ``k8s.io/apimachinery/pkg/util/validation/field``.

Every validator in this package reports problems as :class:`gitkube.errors.Cause` values
built here, so the text matches what a real API server says:
``Required value``, ``Invalid value: "Bad_Name": <detail>``, ``Unsupported value: "Foo":
supported values: "ClusterIP", "NodePort"``, ``Forbidden: <detail>``, ``Duplicate value: ...``.

Bad values are rendered the way Kubernetes 1.32 renders them: strings Go-quoted, numbers and
booleans plain, ``null`` for nil, ``[]string{"a", "b"}`` for string lists, and label maps
(through :func:`go_map`) as ``map[string]string{"k":"v"}``; structs fall back to compact JSON.
Paths are plain strings built with :func:`child`, :func:`index` and :func:`key`
(``spec.containers[0].name``, ``metadata.labels[app]``).

Pure; used by every strategy module and by :func:`gitkube.apiserver.strategy.to_invalid`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitkube.api.quantity import Quantity
from gitkube.errors import Cause

__all__ = [
    "FIELD_IMMUTABLE",
    "Raw",
    "child",
    "dedupe",
    "duplicate",
    "forbidden",
    "go_map",
    "go_quote",
    "immutable",
    "index",
    "invalid",
    "key",
    "not_found",
    "not_supported",
    "render",
    "required",
    "too_long",
    "too_many",
]

FIELD_IMMUTABLE = "field is immutable"

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", '"': '\\"', "\\": "\\\\"}


class Raw(str):
    """A bad value that is already rendered and must be printed verbatim."""


def go_map(value: Mapping[str, str] | None) -> Raw:
    """A ``map[string]string`` (labels, selectors) as Go's ``%#v`` prints it."""
    if not value:
        return Raw("map[string]string(nil)")
    inner = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
    return Raw(f"map[string]string{{{inner}}}")


def go_quote(text: str) -> str:
    """``strconv.Quote``: double quotes, Go escapes, printable Unicode kept as is."""
    out = ['"']
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def render(value: Any) -> str:
    """Render a bad value like ``field.Error.ErrorBody`` of Kubernetes 1.32."""
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Quantity):
        return go_quote(str(value))
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(value)


# -- paths -----------------------------------------------------------------------------


def child(path: str, *names: str) -> str:
    """``fldPath.Child(a, b)``: dot-joined field names."""
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


# -- errors ----------------------------------------------------------------------------


def _with_detail(head: str, detail: str) -> str:
    return f"{head}: {detail}" if detail else head


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, _with_detail("Required value", detail), "FieldValueRequired")


def forbidden(path: str, detail: str = "") -> Cause:
    return Cause(path, _with_detail("Forbidden", detail), "FieldValueForbidden")


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return Cause(path, _with_detail(f"Invalid value: {render(value)}", detail), "FieldValueInvalid")


def immutable(path: str, value: Any) -> Cause:
    """``ValidateImmutableField`` when the value changed."""
    return invalid(path, value, FIELD_IMMUTABLE)


def not_supported(path: str, value: Any, valid: Sequence[str] = ()) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return Cause(path, _with_detail(f"Unsupported value: {render(value)}", detail), "FieldValueNotSupported")


def duplicate(path: str, value: Any, detail: str = "") -> Cause:
    return Cause(path, _with_detail(f"Duplicate value: {render(value)}", detail), "FieldValueDuplicate")


def not_found(path: str, value: Any, detail: str = "") -> Cause:
    return Cause(path, _with_detail(f"Not found: {render(value)}", detail), "FieldValueNotFound")


def too_long(path: str, max_length: int) -> Cause:
    unit = "byte" if max_length == 1 else "bytes"
    return Cause(path, f"Too long: may not be more than {max_length} {unit}", "FieldValueTooLong")


def too_many(path: str, actual: int, max_items: int) -> Cause:
    unit = "item" if max_items == 1 else "items"
    return Cause(path, f"Too many: {actual}: must have at most {max_items} {unit}", "FieldValueTooMany")


def dedupe(causes: Iterable[Cause]) -> list[Cause]:
    """Drop repeated identical causes, keeping the first occurrence's order."""
    seen: set[Cause] = set()
    out: list[Cause] = []
    for cause in causes:
        if cause not in seen:
            seen.add(cause)
            out.append(cause)
    return out
