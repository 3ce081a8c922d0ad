"""Normalisation: the values of an object that the plan compares, and nothing the server sets.

The rule (no per-field ignore lists, so it holds against any API server): the live object is
projected onto the fields the desired object sets plus the fields gitkube's own server-side apply
still owns (``metadata.managedFields``, manager ``gitkube``, operation ``Apply``) that no other
manager owns; values are canonicalised on both sides (quantities by schema type, empty maps and
lists and nulls as absent, integral floats as ints, Secret ``stringData`` folded into base64
``data`` as the server does). Everything else on the live object - status, uid, resourceVersion,
managedFields, server defaults, controllers' labels and annotations - is out of the projection.

Two ways to apply the rule:

- :func:`covers` and :func:`owned_within` are the fast path: one walk of the desired object
  against the live one and one walk of gitkube's FieldsV1 against the desired object. When both
  hold, the projection would equal the desired object and the object is in sync. They never say
  "in sync" wrongly; they may say "maybe not" (the slow path then decides).
- :func:`project` and :func:`normalize` build the two plain values the slow path diffs
  (:mod:`gitkube.plan.diff`), with field sets from :func:`gitkube.api.typed.to_field_set` and
  :class:`gitkube.api.fieldsv1.FieldSet`, the building blocks of the server's own apply.

Schemas are walked through :class:`TypeNode`, a cached digest of :class:`gitkube.api.schema.Schema`
(list type, list-map keys, quantity, atomic map) so the hot loops do one dict lookup per field.
Pure; called by :mod:`gitkube.plan.diff` and :mod:`gitkube.plan.make`.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from typing import Any

from gitkube.api.fieldsv1 import FieldSet, PathElement, field_pe
from gitkube.api.quantity import QuantityError, canonical
from gitkube.api.schema import Schema, schema_for
from gitkube.api.scheme import by_kind
from gitkube.api.typed import TypedError, item_pe, list_info
from gitkube.plan.model import FIELD_MANAGER

__all__ = [
    "TypeNode",
    "covers",
    "deep_empty",
    "managed_sets",
    "normalize",
    "owned_within",
    "prepare",
    "project",
    "type_of",
]

# What the server sets in metadata; never part of a desired object.
_SERVER_META = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
     "deletionTimestamp", "deletionGracePeriodSeconds"}
)
# Defaults of list-map key fields (Kubernetes' OpenAPI declares them; typed.item_pe uses the same).
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}
_MISSING: Any = object()
# Defaults the server fills inside ATOMIC values: server-side apply records the whole value as
# the applier's, so projection cannot leave them out; the desired side gets them instead (the
# same defaulting as Kubernetes' SetDefaults_ObjectFieldSelector / ResourceFieldSelector).
_ATOMIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "ObjectFieldSelector": {"apiVersion": "v1"},
    "ResourceFieldSelector": {"divisor": "0"},
    # ValidatingAdmissionPolicy(Binding): matchConstraints / matchResources and each resource rule
    # are atomic; SetDefaults_MatchResources and SetDefaults_NamedRuleWithOperations fill these
    "MatchResources": {"matchPolicy": "Equivalent"},
    "NamedRuleWithOperations": {"scope": "*"},
}


class TypeNode:
    """A schema node digested for fast walks; :data:`UNTYPED` stands for "no schema"."""

    __slots__ = ("_children", "_items", "atomic_map", "defaults", "keys", "list_kind", "quantity", "schema")

    def __init__(self, schema: Schema | None) -> None:
        self.schema = schema
        self.list_kind, self.keys = list_info(schema)
        self.quantity = schema is not None and schema.is_quantity
        self.atomic_map = schema is not None and schema.map_type == "atomic"
        self.defaults = _ATOMIC_DEFAULTS.get(schema.short_name, {}) if schema is not None else {}
        self._children: dict[str, TypeNode] = {}
        self._items: TypeNode | None = None

    def child(self, key: str) -> TypeNode:
        found = self._children.get(key)
        if found is None:
            sub = None
            if self.schema is not None:
                sub = self.schema.field(key) or self.schema.additional()
            found = self._children[key] = _digest(sub)
        return found

    def items(self) -> TypeNode:
        if self._items is None:
            self._items = _digest(self.schema.items() if self.schema is not None else None)
        return self._items


_DIGESTS: dict[int, TypeNode] = {}


def _digest(schema: Schema | None) -> TypeNode:
    if schema is None:
        return UNTYPED
    found = _DIGESTS.get(id(schema))
    if found is None:
        found = _DIGESTS[id(schema)] = TypeNode(schema)
    return found


UNTYPED = TypeNode(None)


@functools.lru_cache(maxsize=1024)
def type_of(api_version: str, kind: str) -> TypeNode:
    """The root type of a kind (UNTYPED for kinds without a Kubernetes schema)."""
    return _digest(schema_for(api_version, kind))


# -- the desired side -------------------------------------------------------------------------


def prepare(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """A desired object as the server would store it at the top level: no status, no server
    metadata, no namespace on cluster-scoped kinds, Secret ``stringData`` folded into base64
    ``data``. ``obj`` itself when there is nothing to change, else a shallow copy; nested values
    are shared with ``obj`` and never modified."""
    meta = obj.get("metadata")
    if "status" not in obj and "stringData" not in obj and type(meta) is dict and _SERVER_META.isdisjoint(meta) \
            and ("namespace" not in meta or _namespaced(obj.get("apiVersion"), obj.get("kind"))):
        return obj
    out = {k: v for k, v in obj.items() if k != "status"}
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in _SERVER_META}
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if not _namespaced(api_version, kind):
            meta.pop("namespace", None)
        out["metadata"] = meta
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1" and isinstance(obj.get("stringData"), dict):
        data = dict(obj.get("data") or {})
        for key, value in obj["stringData"].items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode()
        out["data"] = data
        del out["stringData"]
    return out


@functools.lru_cache(maxsize=1024)
def _namespaced(api_version: Any, kind: Any) -> bool:
    info = by_kind(str(api_version or ""), str(kind or ""))
    return info is None or info.namespaced


def deep_empty(value: Any) -> bool:
    """None, or a map/list holding nothing but empties: the plan treats it as absent."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(deep_empty(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return False


@functools.lru_cache(maxsize=16384)
def _canonical_quantity(value: str | int | float) -> str | int | float:
    try:
        return canonical(value)
    except QuantityError:
        return value


def _canon_leaf(value: Any, node: TypeNode) -> Any:
    if node.quantity and isinstance(value, str | int | float) and not isinstance(value, bool):
        return _canonical_quantity(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalize(value: Any, node: TypeNode) -> Any:
    """The canonical plain value: empties dropped (None when nothing is left), quantities canonical,
    the server's defaults inside atomic values filled in."""
    if isinstance(value, dict):
        if node.defaults and any(k not in value for k in node.defaults):
            value = {**node.defaults, **value}
        out = {}
        for k, v in value.items():
            n = normalize(v, node.child(k))
            if n is not None:
                out[k] = n
        return out or None
    if isinstance(value, list):
        items = node.items()
        lst = [normalize(v, items) for v in value]
        return lst or None
    return _canon_leaf(value, node)


# -- fast path ------------------------------------------------------------------------------


def _same_leaf(d: Any, lv: Any, node: TypeNode) -> bool:
    if d == lv:
        return (type(d) is bool) == (type(lv) is bool)
    if node.quantity:
        return bool(_canon_leaf(d, node) == _canon_leaf(lv, node))
    return False


def _key_of(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    out = []
    for k in keys:
        v = item.get(k)
        if v is None:
            v = _KEY_DEFAULTS.get(k)
            if v is None:
                return None
        if isinstance(v, dict | list):
            return None
        out.append(v)
    return tuple(out)


def covers(d: Any, lv: Any, node: TypeNode) -> bool:
    """True when the live value ``lv`` holds every field of the desired value ``d`` with the
    same canonical value (lists typed by ``node``). False means "maybe different".

    Python equality decides equal values at once (``1 == 1.0`` as in JSON); it would also take
    ``true`` for ``1`` inside equal containers, which schema-valid objects cannot hold in one field."""
    if isinstance(d, dict):
        if not isinstance(lv, dict):
            return deep_empty(d)
        if node.atomic_map:
            return bool(normalize(d, node) == normalize(lv, node))
        for k, v in d.items():
            sub = lv.get(k)
            if v == sub and type(v) is not bool:
                continue  # the common case, at C speed: an equal value (a scalar, labels, a selector)
            if sub is None:
                if not deep_empty(v):
                    return False
            elif not covers(v, sub, node.child(k)):
                return False
        return True
    if isinstance(d, list):
        if not d:
            return True
        if not isinstance(lv, list):
            return False
        kind = node.list_kind
        if kind == "map":
            keys = node.keys
            if len(d) == 1 and len(lv) == 1:  # one container, one port: no index needed
                k = _key_of(d[0], keys)
                return k is not None and k == _key_of(lv[0], keys) and covers(d[0], lv[0], node.items())
            index: dict[tuple[Any, ...], Any] = {}
            for item in lv:
                k = _key_of(item, keys)
                if k is not None:
                    index.setdefault(k, item)
            items = node.items()
            for item in d:
                k = _key_of(item, keys)
                if k is None:
                    return False
                found = index.get(k)
                if found is None or not covers(item, found, items):
                    return False
            return True
        if kind == "set":
            return all(x in lv for x in d)
        return bool(d == lv or normalize(d, node) == normalize(lv, node))
    if d is None:
        return True
    return _same_leaf(d, lv, node)


@functools.lru_cache(maxsize=65536)
def _parse_key(text: str) -> tuple[tuple[str, Any], ...] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return tuple(data.items())


@functools.lru_cache(maxsize=65536)
def _parse_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return _MISSING
    return value if not isinstance(value, dict | list) else _MISSING


def _item_matches(item: Any, keys: tuple[tuple[str, Any], ...]) -> bool:
    if not isinstance(item, dict):
        return False
    for name, want in keys:
        got = item.get(name)
        if got is None:
            got = _KEY_DEFAULTS.get(name)
        if got != want:
            return False
    return True


def owned_within(fields_v1: Mapping[str, Any], d: Any) -> bool:
    """True when every field of a FieldsV1 set exists in the desired value ``d``: nothing gitkube
    applied before would be removed by applying ``d``. False means "maybe something would"."""
    for key, sub in fields_v1.items():
        prefix = key[0]
        if prefix == "f":
            if type(d) is not dict:
                return False
            target = d.get(key[2:], _MISSING)
            if target is _MISSING:
                return False
        elif prefix == "k":
            parsed = _parse_key(key[2:])
            if parsed is None or type(d) is not list:
                return False
            target = next((item for item in d if _item_matches(item, parsed)), _MISSING)
            if target is _MISSING:
                return False
        elif prefix == "v":
            value = _parse_value(key[2:])
            if value is _MISSING or type(d) is not list or value not in d:
                return False
            continue
        elif prefix == "i":
            rest = key[2:]
            if type(d) is not list or not rest.isdigit() or int(rest) >= len(d):
                return False
            target = d[int(rest)]
        else:
            continue  # "." and prefixes a later Kubernetes may add
        if sub and (len(sub) > 1 or "." not in sub) and not owned_within(sub, target):
            return False
    return True


# -- slow path -----------------------------------------------------------------------------


def managed_sets(live: Mapping[str, Any], *, secret: bool) -> tuple[dict[str, Any] | None, FieldSet, FieldSet]:
    """(gitkube's Apply FieldsV1 as stored, gitkube's Apply field set, every other manager's fields).

    For a Secret, owned ``stringData`` keys count as ``data`` keys: the server folds one into the
    other, and that is where the values live."""
    entries = (live.get("metadata") or {}).get("managedFields")
    mine_raw: dict[str, Any] | None = None
    mine, others = FieldSet(), FieldSet()
    if not isinstance(entries, list):
        return None, mine, others
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("fieldsV1"), dict):
            continue
        try:
            fs = FieldSet.from_fields_v1(entry["fieldsV1"])
        except ValueError:
            continue
        if is_gitkube_apply(entry):
            mine_raw = entry["fieldsV1"]
            mine = mine.union(fs)
        else:
            others = others.union(fs)
    if secret:
        mine = _string_data_as_data(mine)
    return mine_raw, mine, others


def is_gitkube_apply(entry: Mapping[str, Any]) -> bool:
    return (entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply"
            and not entry.get("subresource"))


def _string_data_as_data(fs: FieldSet) -> FieldSet:
    sd = fs.children.get(field_pe("stringData"))
    if sd is None:
        return fs
    out = fs.copy()
    del out.children[field_pe("stringData")]
    out.members.discard(field_pe("stringData"))
    data = out.children.setdefault(field_pe("data"), FieldSet())
    data.members |= sd.members
    out.members.add(field_pe("data"))
    return out


def gitkube_fields(live: Mapping[str, Any]) -> dict[str, Any] | None:
    """gitkube's Apply FieldsV1 on a live object, None when gitkube never applied it."""
    entries = (live.get("metadata") or {}).get("managedFields")
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and is_gitkube_apply(entry) and isinstance(entry.get("fieldsV1"), dict):
            fields: dict[str, Any] = entry["fieldsV1"]
            return fields
    return None


def project(value: Any, fields: FieldSet, node: TypeNode) -> Any:
    """The part of a live value on ``fields``, normalised (None when nothing is left)."""
    if isinstance(value, dict):
        if node.atomic_map:
            return normalize(value, node)
        out = {}
        for k, v in value.items():
            pe = ("f", k)
            child = fields.children.get(pe)
            if child is not None:
                n = project(v, child, node.child(k))
            elif pe in fields.members:
                n = normalize(v, node.child(k))
            else:
                continue
            if n is not None:
                out[k] = n
        return out or None
    if isinstance(value, list):
        rel, keys = node.list_kind, node.keys
        if rel == "atomic":
            return normalize(value, node)
        items = node.items()
        lst = []
        seen: set[PathElement] = set()
        for i, item in enumerate(value):
            try:
                pe = item_pe(rel, keys, i, item)
            except TypedError:
                continue
            if pe in seen:
                continue
            seen.add(pe)
            child = fields.children.get(pe)
            if child is not None:
                n = project(item, child, items)
            elif pe in fields.members:
                n = normalize(item, items)
            else:
                continue
            if n is not None:
                lst.append(n)
        return lst or None
    return normalize(value, node)
