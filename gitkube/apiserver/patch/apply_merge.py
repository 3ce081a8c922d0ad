"""Merging an applied configuration onto a live object, and removing owned fields.

structured-merge-diff's ``TypedValue.Merge`` and ``RemoveItems`` on plain dicts and lists:

- :func:`merge` - the configuration wins on leaves and atomic values; maps merge key by key;
  list-maps and sets merge item by item. Items keep the live order, configured items are
  placed by the configuration's order among the items both sides share; ``null`` in the
  configuration unsets the field.
- :func:`remove_items` - a member of the set removes the whole field or item below it; maps and
  lists that end up empty disappear.

Callers: :mod:`.apply` (the merge and prune steps of server-side apply).
"""

from __future__ import annotations

import copy
from typing import Any

from gitkube.api.fieldsv1 import FieldSet, PathElement, field_pe
from gitkube.api.schema import Schema
from gitkube.api.typed import (
    MISSING,
    TypedError,
    atomic_map,
    child_schema,
    index_items,
    item_pe,
    items_schema,
    list_info,
)

__all__ = ["merge", "remove_items"]


class _Drop:
    __slots__ = ()


_DROP: Any = _Drop()


def merge(live: Any, config: Any, node: Schema | None) -> Any:
    """``config`` merged onto ``live``: config wins on leaves, maps and list-maps merge per key."""
    if config is MISSING:
        return copy.deepcopy(live)
    if live is MISSING or live is None or config is None:
        return _without_nulls(copy.deepcopy(config))
    if isinstance(live, dict) and isinstance(config, dict):
        if atomic_map(node) or (not live and not config):
            return _without_nulls(copy.deepcopy(config))
        out: dict[str, Any] = {}
        for key, lv in live.items():
            sub, _ = child_schema(node, key)
            rv = config.get(key, MISSING)
            if rv is None:
                continue
            out[key] = merge(lv, rv, sub)
        for key, rv in config.items():
            if key not in live and rv is not None:
                out[key] = merge(MISSING, rv, child_schema(node, key)[0])
        return out
    if isinstance(live, list) and isinstance(config, list):
        rel, keys = list_info(node)
        if rel == "atomic" or (not live and not config):
            return _without_nulls(copy.deepcopy(config))
        return _merge_list(live, config, rel, keys, items_schema(node))
    return _without_nulls(copy.deepcopy(config))


def _merge_list(
    live: list[Any], config: list[Any], rel: str, keys: tuple[str, ...], items: Schema | None
) -> list[Any]:
    lorder, lseen = index_items(rel, keys, live)
    rorder, rseen = index_items(rel, keys, config)
    shared = [pe for pe in rorder if pe in lseen]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[PathElement] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lorder) or ri < len(rorder):
        if li < len(lorder) and ri < len(rorder):
            pe = lorder[li]
            if pe == rorder[ri]:
                merged_rhs.add(pe)
                out.append(merge(lseen[pe], rseen[pe], items))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in rseen and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lorder):
            pe = lorder[li]
            if pe not in rseen:
                out.append(copy.deepcopy(lseen[pe]))
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
                continue
        if ri < len(rorder):
            pe = rorder[ri]
            merged_rhs.add(pe)
            out.append(merge(lseen.get(pe, MISSING), rseen[pe], items))
            ri += 1
            if next_shared == pe:
                next_shared = shared.pop(0) if shared else None
        elif li < len(lorder):
            li += 1
    return out


def _without_nulls(value: Any) -> Any:
    """A configured value as it decodes: null map entries mean "not set"."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def remove_items(value: Any, fields: FieldSet, node: Schema | None) -> Any:
    """``value`` without the fields of ``fields`` (a member removes its whole subtree)."""
    out = _remove(value, fields, node)
    if out is _DROP:
        return {} if isinstance(value, dict) else None
    return out


def _remove(value: Any, fields: FieldSet, node: Schema | None) -> Any:
    if isinstance(value, dict):
        if not value or atomic_map(node):
            return value
        out: dict[str, Any] = {}
        for key, val in value.items():
            pe = field_pe(key)
            if pe in fields.members:
                continue
            sub = fields.children.get(pe)
            if sub is not None and not sub.empty():
                val = _remove(val, sub, child_schema(node, key)[0])
                if val is _DROP:
                    continue
            out[key] = val
        return out if out else _DROP
    if isinstance(value, list):
        rel, keys = list_info(node)
        if not value or rel == "atomic":
            return value
        items = items_schema(node)
        kept: list[Any] = []
        for i, item in enumerate(value):
            try:
                pe = item_pe(rel, keys, i, item)
            except TypedError:
                kept.append(item)
                continue
            if pe in fields.members:
                continue
            sub = fields.children.get(pe)
            if sub is not None and not sub.empty():
                item = _remove(item, sub, items)
                if item is _DROP:
                    continue
            kept.append(item)
        return kept if kept else _DROP
    return value
