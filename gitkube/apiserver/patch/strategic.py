"""Strategic merge patch (``application/strategic-merge-patch+json``), driven by the schema.

A port of the server half of Kubernetes' ``k8s.io/apimachinery/pkg/util/strategicpatch``
(``StrategicMergeMapPatch`` with ``MergeParallelList`` and ``IgnoreUnmatchedNulls``), with the
Go struct tags replaced by the OpenAPI extensions ``x-kubernetes-patch-strategy`` and
``x-kubernetes-patch-merge-key``:

- maps merge key by key; ``null`` deletes a key;
- lists whose strategy is ``merge`` merge their items by the merge key (containers by ``name``,
  volumeMounts by ``mountPath``, ports by ``containerPort``/``port``...), lists of scalars with
  ``merge`` (finalizers) are unions; every other list is replaced;
- directives: ``$patch: replace|delete`` on maps and list items, ``$retainKeys``,
  ``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>``.

Item order follows Go: ``$setElementOrder`` wins, then the order of the patch, then the live
order; items only the server has keep their place relative to each other.

Errors: malformed directives -> :class:`StrategicMergeError` with Kubernetes' wording; the
dispatcher turns it into 400 (422 for lists of lists). List merging and ordering live in
:mod:`.strategic_lists`. Callers: :mod:`gitkube.apiserver.patch`.
"""

from __future__ import annotations

import copy
from typing import Any

from gitkube.api.schema import Schema
from gitkube.apiserver.patch.strategic_lists import (
    DIRECTIVE,
    StrategicMergeError,
    bad_arg,
    element_kind,
    go_format,
    kind_of,
    merge_slice,
    normalize_element_order,
    partition_maps,
    partition_primitives,
    remove_directives,
    validate_set_order,
)

__all__ = ["StrategicMergeError", "go_format", "strategic_merge"]

_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList"
_SET_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch format of setElementOrder list"


def strategic_merge(original: dict[str, Any], patch: dict[str, Any], node: Schema | None) -> dict[str, Any]:
    """``patch`` applied to ``original`` (neither is modified)."""
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), node)


def _meta(node: Schema | None, key: str) -> tuple[Schema | None, str, str | None]:
    """(schema, patch strategy other than retainKeys, merge key) of a field."""
    sub = node.child(key) if node is not None else None
    if sub is None:
        return None, "", None
    strategies = sub.patch_strategy - {"retainKeys"}
    strategy = "replace" if "replace" in strategies else "merge" if "merge" in strategies else ""
    return sub, strategy, sub.patch_merge_key


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], node: Schema | None) -> dict[str, Any]:
    """Go's ``mergeMap``: map directives, ``$retainKeys`` and ``$setElementOrder`` first, then key by key."""
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == "replace":
            del patch[DIRECTIVE]
            return patch
        if directive == "delete":
            return {}
        raise StrategicMergeError(f"unknown patch type: {go_format(directive)} in map: {go_format(patch)}")
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, node)
    for key, value in list(patch.items()):
        is_delete_list = False
        if key.startswith(_DELETE_PRIMITIVE):
            key = _extract_key(key, _DELETE_PRIMITIVE, _ERR_PRIMITIVE_LIST)
            is_delete_list = True
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key, _ABSENT)
        if current is _ABSENT or kind_of(current) != kind_of(value):
            if not is_delete_list:
                _set_without_directives(original, key, value)
            continue
        sub, strategy, merge_key = _meta(node, key)
        if isinstance(current, dict):
            original[key] = value if strategy == "replace" else _merge_map(current, value, sub)
        elif isinstance(current, list):
            original[key] = _merge_slice_handler(current, value, sub, strategy, merge_key, is_delete_list)
        else:
            _set_without_directives(original, key, value)
    return original


class _Absent:
    __slots__ = ()


_ABSENT: Any = _Absent()


def _set_without_directives(original: dict[str, Any], key: str, value: Any) -> None:
    _discard_nulls(value)
    kept, keep = remove_directives(value)
    if keep:
        original[key] = kept
    else:
        original.pop(key, None)


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            _discard_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise StrategicMergeError(error)
    return rest


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise StrategicMergeError(_ERR_RETAIN_KEYS)
    allowed = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_PRIMITIVE, _SET_ORDER)):
            continue
        if key not in allowed:
            raise StrategicMergeError(_ERR_RETAIN_KEYS)
    for key in [k for k in original if k not in allowed]:
        del original[key]


def _merge_set_element_order(original: dict[str, Any], patch: dict[str, Any], node: Schema | None) -> None:
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise bad_arg("[]interface {}", order)
        list_key = _extract_key(key, _SET_ORDER, _ERR_SET_ORDER)
        in_original, in_patch = list_key in original, list_key in patch
        original_list = original.get(list_key) if in_original else []
        patch_list = patch.get(list_key) if in_patch else []
        if not isinstance(original_list, list):
            raise bad_arg("[]interface {}", original_list)
        if not isinstance(patch_list, list):
            raise bad_arg("[]interface {}", patch_list)
        sub, strategy, merge_key = _meta(node, list_key)
        validate_set_order(patch_list, order, merge_key)
        if in_original and not in_patch:
            merged = original_list
        elif in_patch and not in_original:
            merged = remove_directives(patch_list)[0]
        elif in_original and in_patch:
            merged = _merge_slice_handler(original_list, patch_list, sub, strategy, merge_key, False)
        else:
            continue
        if merge_key:
            patch_items, server_only = partition_maps(merged, order, merge_key)
        else:
            patch_items, server_only = partition_primitives(merged, order)
        kind = element_kind(original_list, patch_list)
        original[list_key] = normalize_element_order(
            patch_items, server_only, order, original_list, merge_key, kind
        )
        patch.pop(list_key, None)


def _merge_slice_handler(
    original: list[Any],
    patch: list[Any],
    node: Schema | None,
    strategy: str,
    merge_key: str | None,
    is_delete_list: bool,
) -> list[Any]:
    if strategy == "merge" or is_delete_list:
        items = node.items() if node is not None else None
        return merge_slice(original, patch, items, merge_key, is_delete_list, _merge_map)
    return patch
