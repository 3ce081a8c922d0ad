"""Comparing one desired object with its live counterpart: field changes and a unified diff.

:func:`compare_object` answers "what would a server-side apply of ``desired`` change on
``live``?" with the normalisation of :mod:`gitkube.plan.normalize`: the fast path first (no
allocation beyond two walks), and only when it cannot prove the object in sync, the projection
onto field sets and a field-level comparison with deepdiff. List-maps are compared by their keys,
so paths read ``spec.template.spec.containers[name=web].image``.

Secrets: values under ``data`` never leave this module: field changes carry ``"(sensitive)"``
and the diff text shows ``password: (sensitive)`` on the live side and
``password: (sensitive, changed)`` on the desired side of a changed key.

Callers: :func:`gitkube.plan.make_plan` and the engine's drift check (through :func:`object_diff`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitkube.api.fieldsv1 import canonical_json
from gitkube.api.typed import to_field_set
from gitkube.plan.model import SENSITIVE, FieldChange
from gitkube.plan.normalize import (
    TypeNode,
    covers,
    gitkube_fields,
    managed_sets,
    normalize,
    owned_within,
    prepare,
    project,
    type_of,
)

__all__ = ["Comparison", "compare_object", "object_diff", "render_yaml", "unified"]

CHANGED = "(sensitive, changed)"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings as literal blocks (``|``), as people write them in manifests."""


def _str(dumper: Any, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


@dataclass
class Comparison:
    """The outcome for one object: its field changes and the two normalised views."""

    fields: list[FieldChange] = field(default_factory=list)
    live_view: Any = None
    desired_view: Any = None

    @property
    def changed(self) -> bool:
        return bool(self.fields)


def is_secret(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"


def in_sync(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """The fast path: True only when applying ``desired`` certainly changes nothing on ``live``."""
    node = type_of(str(desired.get("apiVersion", "")), str(desired.get("kind", "")))
    if not covers(prepare(desired), live, node):
        return False
    owned = gitkube_fields(live)
    return owned is None or owned_within(owned, desired)


def compare_object(desired: Mapping[str, Any], live: Mapping[str, Any], *, fast: bool = True) -> Comparison:
    """Compare a desired object with the live one (both whole objects)."""
    if fast and in_sync(desired, live):
        return Comparison()
    api_version, kind = str(desired.get("apiVersion", "")), str(desired.get("kind", ""))
    node = type_of(api_version, kind)
    secret = is_secret(desired)
    want = normalize(prepare(desired), node) or {}
    _, mine, others = managed_sets(live, secret=secret)
    fields = to_field_set(want, node.schema).union(mine.difference(others))
    have = project(live, fields, node) or {}
    changes = _field_changes(_keyed(have, node), _keyed(want, node), secret)
    return Comparison(changes, have, want)


def object_diff(desired: dict[str, Any], live: dict[str, Any]) -> list[FieldChange]:
    """The normalised field changes from ``live`` to ``desired`` ([] when in sync)."""
    return compare_object(desired, live).fields


# -- field changes ---------------------------------------------------------------------------


def _label(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict):
        return None
    parts = []
    for k in keys:
        v = item.get(k)
        if v is None and k == "protocol":
            v = "TCP"
        if v is None or isinstance(v, dict | list):
            return None
        parts.append(f"{k}={v}")
    return "[" + ",".join(parts) + "]"


def _keyed(value: Any, node: TypeNode) -> Any:
    """List-maps as maps keyed ``[name=web]``, sets as maps keyed ``[=value]``: deepdiff then
    reports items by key rather than by position."""
    if isinstance(value, dict):
        return {k: _keyed(v, node.child(k)) for k, v in value.items()}
    if isinstance(value, list):
        items = node.items()
        if node.list_kind == "map":
            out: dict[str, Any] = {}
            for i, item in enumerate(value):
                label = _label(item, node.keys) or f"[{i}]"
                out.setdefault(label, _keyed(item, items))
            return out
        if node.list_kind == "set":
            return {f"[={canonical_json(v)}]": v for v in value}
        return [_keyed(v, items) for v in value]
    return value


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("["):
            out += part
        elif isinstance(part, str) and _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
    return out


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: SENSITIVE for k in value}
    return SENSITIVE


_OPS = {
    "dictionary_item_added": "add",
    "iterable_item_added": "add",
    "dictionary_item_removed": "remove",
    "iterable_item_removed": "remove",
    "values_changed": "change",
    "type_changes": "change",
}


def _field_changes(have: Any, want: Any, secret: bool) -> list[FieldChange]:
    # Imported here: deepdiff pulls in numpy and pydantic (~0.3 s), which only a plan that has
    # changes needs - not the pre-receive hook, not an in-sync diff.
    from deepdiff import DeepDiff

    tree = DeepDiff(have, want, view="tree", ignore_numeric_type_changes=True)
    out: list[FieldChange] = []
    for report, levels in tree.items():
        op = _OPS.get(report)
        if op is None:
            continue
        for level in levels:
            parts = level.path(output_format="list")
            old = level.t1 if op != "add" else None
            new = level.t2 if op != "remove" else None
            if secret and parts and parts[0] in ("data", "stringData"):
                old = _redact(old) if old is not None else None
                new = _redact(new) if new is not None else None
            out.append(FieldChange(_path(parts), op, old, new))
    out.sort(key=lambda f: f.path)
    return out


# -- text -------------------------------------------------------------------------------------


def _secret_views(have: Any, want: Any) -> tuple[Any, Any]:
    """Views of a Secret's data with every value replaced by a placeholder."""
    old = (have or {}).get("data") if isinstance(have, dict) else None
    new = (want or {}).get("data") if isinstance(want, dict) else None
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    if isinstance(have, dict) and "data" in have:
        have = {**have, "data": dict.fromkeys(old, SENSITIVE)}
    if isinstance(want, dict) and "data" in want:
        want = {**want, "data": {k: (CHANGED if k in old and old[k] != v else SENSITIVE) for k, v in new.items()}}
    return have, want


def render_yaml(value: Any) -> str:
    if value is None:
        return ""
    text: str = yaml.dump(value, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text


def unified(have: Any, want: Any, *, secret: bool, name: str) -> str:
    """The unified diff of two normalised views (``have`` None for a create, ``want`` for a delete)."""
    if secret:
        have, want = _secret_views(have, want)
    old = render_yaml(have).splitlines(keepends=True)
    new = render_yaml(want).splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, fromfile=f"live/{name}", tofile=f"desired/{name}", n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
