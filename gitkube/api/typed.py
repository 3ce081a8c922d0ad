"""Schema-driven walks over objects: field sets, comparison, merge and removal.

These are the typed-value operations of Kubernetes' structured-merge-diff (``typed`` package),
ported to plain dicts and lists with :class:`gitkube.api.schema.Schema` as the type:

- :func:`to_field_set` - the fields an object (an applied configuration) sets,
- :func:`compare` - which fields were added, modified or removed between two objects,
- :func:`ensure_named` - a set plus the named struct fields above its paths,

and the typing helpers :mod:`.apply_merge` (merge, remove) and :mod:`.apply_validate` share.

How values are typed: lists use ``x-kubernetes-list-type`` (``map`` with ``list-map-keys``,
``set``, ``atomic``), falling back to the patch strategy (``merge`` with a merge key is a map,
``merge`` without one a set) and then to atomic; maps with ``x-kubernetes-map-type: atomic`` are
leaves. Without schema information (unknown kinds, undeclared fields) objects are granular maps,
lists are atomic and everything else is a leaf, as for custom resources.

Callers: the API server's server-side apply (``apiserver.patch``: apply, apply_managed, apply_update,
apply_merge, apply_validate) and the plan's normalisation (``gitkube.plan``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitkube.api.fieldsv1 import (
    FieldSet,
    Path,
    PathElement,
    field_pe,
    index_pe,
    key_pe,
    value_pe,
)
from gitkube.api.schema import Schema

__all__ = [
    "MISSING",
    "Comparison",
    "TypedError",
    "atomic_map",
    "child_schema",
    "compare",
    "ensure_named",
    "index_items",
    "item_pe",
    "items_schema",
    "list_info",
    "to_field_set",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# Defaults Kubernetes' OpenAPI declares for list-map key fields (the bundled schema lacks them).
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}

# Fields a decoded Kubernetes object always has once their parent exists: struct fields that
# are Go values rather than pointers (they decode as {}), and fields that encode as null when
# unset (a list without omitempty, metav1.Time). A write that fills them in adds their content, not the field itself,
# so Update ownership shows ``f:spec: {...}`` and ``f:containers: {...}`` without ``"."``.
_VALUE_STRUCTS = frozenset(
    {
        "metadata",
        "spec",
        "status",
        "template",
        "strategy",
        "updateStrategy",
        "resources",
        "jobTemplate",
        "loadBalancer",
        "scaleTargetRef",
    }
)
_NULL_FIELDS = frozenset({"containers", "creationTimestamp"})


def _decoded_default(key: str, node: Schema | None) -> Any:
    """What a decoded object holds for an unset field of a present parent (MISSING if nothing)."""
    if node is None:
        return MISSING
    if key in _VALUE_STRUCTS and node.is_struct:
        return {}
    if key in _NULL_FIELDS:
        return None
    return MISSING


class TypedError(ValueError):
    """A value that does not fit its schema where the walk cannot go on."""


def list_info(node: Schema | None) -> tuple[str, tuple[str, ...]]:
    """("atomic"|"set"|"map", key fields) for a list schema, as kube-openapi derives it."""
    if node is None:
        return "atomic", ()
    lt = node.list_type
    if lt == "map":
        return "map", node.list_map_keys
    if lt in ("set", "atomic"):
        return lt, ()
    if "merge" in node.patch_strategy:
        key = node.patch_merge_key
        return ("map", (key,)) if key else ("set", ())
    return "atomic", ()


def child_schema(node: Schema | None, key: str) -> tuple[Schema | None, bool]:
    """(schema of a map entry, whether it is a declared struct field)."""
    if node is None:
        return None, False
    declared = node.field(key)
    if declared is not None:
        return declared, True
    return node.additional(), False


def items_schema(node: Schema | None) -> Schema | None:
    return node.items() if node is not None else None


def atomic_map(node: Schema | None) -> bool:
    return node is not None and node.map_type == "atomic"


def item_pe(rel: str, keys: tuple[str, ...], index: int, item: Any) -> PathElement:
    """The path element of a list item; raises TypedError when the item cannot be named."""
    if rel == "map":
        if not isinstance(item, dict):
            raise TypedError("associative list with keys may not have non-map elements")
        found: dict[str, Any] = {}
        for name in keys:
            if name in item and item[name] is not None:
                found[name] = item[name]
            elif name in _KEY_DEFAULTS:
                found[name] = _KEY_DEFAULTS[name]
            else:
                raise TypedError(
                    f'associative list with keys has an element that omits key field "{name}" '
                    "(and doesn't have default value)"
                )
        return key_pe(found)
    if rel == "set":
        if isinstance(item, dict | list) or item is None:
            raise TypedError("associative list without keys has an element that's a map type")
        return value_pe(item)
    return index_pe(index)


def index_items(
    rel: str, keys: tuple[str, ...], items: list[Any]
) -> tuple[list[PathElement], dict[PathElement, Any]]:
    """Path elements of a live list in order (first occurrence wins; unnamed items by position)."""
    order: list[PathElement] = []
    seen: dict[PathElement, Any] = {}
    for i, item in enumerate(items):
        try:
            pe = item_pe(rel, keys, i, item)
        except TypedError:
            pe = index_pe(i)
        if pe in seen:
            continue
        seen[pe] = item
        order.append(pe)
    return order, seen


# -- to_field_set -----------------------------------------------------------------------------


def to_field_set(value: Any, node: Schema | None) -> FieldSet:
    """The set of fields ``value`` sets: its leaves, list items and undeclared map keys."""
    out = FieldSet()
    _to_set(value, node, (), out)
    return out


def _to_set(value: Any, node: Schema | None, path: Path, out: FieldSet) -> None:
    if isinstance(value, dict):
        if atomic_map(node):
            out.insert(path)
            return
        for key, val in value.items():
            sub, declared = child_schema(node, key)
            p = (*path, field_pe(key))
            _to_set(val, sub, p, out)
            if not declared:
                out.insert(p)
    elif isinstance(value, list):
        rel, keys = list_info(node)
        if rel == "atomic":
            out.insert(path)
            return
        items = items_schema(node)
        for i, item in enumerate(value):
            try:
                pe = item_pe(rel, keys, i, item)
            except TypedError:
                continue
            p = (*path, pe)
            _to_set(item, items, p, out)
            out.insert(p)
    elif value is None and node is not None and (node.is_object or node.is_array):
        if atomic_map(node) or (node.is_array and list_info(node)[0] == "atomic"):
            out.insert(path)
    else:
        out.insert(path)


# -- compare ----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Fields that differ between two objects."""

    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def empty(self) -> bool:
        return self.added.empty() and self.modified.empty() and self.removed.empty()

    def exclude(self, ignored: FieldSet) -> Comparison:
        if ignored.empty():
            return self
        return Comparison(
            self.added.recursive_difference(ignored),
            self.modified.recursive_difference(ignored),
            self.removed.recursive_difference(ignored),
        )


def compare(old: Any, new: Any, node: Schema | None) -> Comparison:
    """What changed from ``old`` to ``new`` (both whole objects; ``old`` may be {} for a create)."""
    c = Comparison()
    _cmp(old, new, node, (), c)
    return c


def _shape(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _leaf(lhs: Any, rhs: Any, path: Path, c: Comparison) -> None:
    if not path:
        return
    if lhs is MISSING:
        c.added.insert(path)
    elif rhs is MISSING:
        c.removed.insert(path)
    elif not _equal(lhs, rhs):
        c.modified.insert(path)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _cmp(lhs: Any, rhs: Any, node: Schema | None, path: Path, c: Comparison) -> None:
    sl, sr = _shape(lhs), _shape(rhs)
    if sl and sr and sl != sr:
        _leaf(lhs, rhs, path, c)
        for p in to_field_set(lhs, node).paths():
            c.removed.insert((*path, *p))
        for p in to_field_set(rhs, node).paths():
            c.added.insert((*path, *p))
        return
    shape = sl or sr
    if shape == "map":
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        if atomic_map(node) or (not lm and not rm):
            _leaf(lhs, rhs, path, c)
            return
        for key in [*lm, *(k for k in rm if k not in lm)]:
            sub, declared = child_schema(node, key)
            lv = lm.get(key, MISSING)
            rv = rm.get(key, MISSING)
            if declared:
                if lv is MISSING and lhs is not MISSING:
                    lv = _decoded_default(key, sub)
                if rv is MISSING and rhs is not MISSING:
                    rv = _decoded_default(key, sub)
            _cmp(lv, rv, sub, (*path, field_pe(key)), c)
    elif shape == "list":
        rel, keys = list_info(node)
        ll = lhs if isinstance(lhs, list) else []
        rl = rhs if isinstance(rhs, list) else []
        if rel == "atomic" or (not ll and not rl):
            _leaf(lhs, rhs, path, c)
            return
        lorder, lseen = index_items(rel, keys, ll)
        rorder, rseen = index_items(rel, keys, rl)
        items = items_schema(node)
        for pe in [*lorder, *(p for p in rorder if p not in lseen)]:
            _cmp(lseen.get(pe, MISSING), rseen.get(pe, MISSING), items, (*path, pe), c)
    else:
        _leaf(lhs, rhs, path, c)
        return
    if path:
        if lhs is MISSING:
            c.added.insert(path)
        elif rhs is MISSING:
            c.removed.insert(path)


def ensure_named(fields: FieldSet, node: Schema | None) -> FieldSet:
    """``fields`` plus, as members, every declared struct field that has owned paths below it."""
    out = FieldSet()
    out.members = set(fields.members)
    for pe, child in fields.children.items():
        if pe[0] == "f":
            sub, declared = child_schema(node, pe[1])
            if declared:
                out.members.add(pe)
        else:
            sub = items_schema(node)
        named = ensure_named(child, sub)
        if not named.empty():
            out.children[pe] = named
    return out
