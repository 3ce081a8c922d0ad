"""List handling of strategic merge patch: merge by key, directives in lists, item order.

The list half of Kubernetes' ``strategicpatch`` (server side): lists of maps merge item by
item on their merge key (``$patch: delete`` and ``$patch: replace`` items are honoured),
lists of scalars are unions, ``$deleteFromPrimitiveList`` removes scalars, and the result is
ordered as Go orders it (``normalizeElementOrder``: patch items in patch order, server-only
items in live order, interleaved by live position). Also the shared error type and Go-style
value formatting used in error messages.

Callers: :mod:`.strategic` (which passes its map merge in as ``merge_map``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.api.schema import Schema

__all__ = [
    "DIRECTIVE",
    "ERR_NO_LIST_OF_LISTS",
    "MergeMap",
    "StrategicMergeError",
    "bad_arg",
    "element_kind",
    "go_format",
    "kind_of",
    "merge_slice",
    "no_merge_key",
    "normalize_element_order",
    "partition_maps",
    "partition_primitives",
    "remove_directives",
    "same",
    "validate_set_order",
]

DIRECTIVE = "$patch"
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"
_SET_ORDER = "$setElementOrder"

MergeMap = Callable[[dict[str, Any], dict[str, Any], Schema | None], dict[str, Any]]


class StrategicMergeError(ValueError):
    """A patch the strategic merge cannot apply; ``code`` is the HTTP status Kubernetes uses."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def go_format(value: Any) -> str:
    """A value the way Go's ``%v`` prints decoded JSON (``map[a:1 b:[x y]]``)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "float64" if isinstance(value, float) else "int64"
    return "<nil>"


def bad_arg(expected: str, actual: Any) -> StrategicMergeError:
    return StrategicMergeError(f"expected a {expected}, but received a {_go_type(actual)}")


def no_merge_key(item: dict[str, Any], key: str) -> StrategicMergeError:
    return StrategicMergeError(f"map: {go_format(item)} does not contain declared merge key: {key}")


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "nil"


def remove_directives(value: Any) -> tuple[Any, bool]:
    """Drop maps that carry ``$patch`` (a directive is never data)."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        for k in list(value):
            kept, keep = remove_directives(value[k])
            if keep:
                value[k] = kept
            else:
                del value[k]
        return value, True
    if isinstance(value, list):
        out = []
        for item in value:
            kept, keep = remove_directives(item)
            if keep:
                out.append(kept)
        return out, True
    return value, True


def validate_set_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    if not order or not patch_list:
        return
    items = (
        [v for v in patch_list if not (isinstance(v, dict) and v.get(DIRECTIVE) == "delete")]
        if merge_key
        else patch_list
    )
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        if isinstance(items[pi], dict) and DIRECTIVE in items[pi]:
            pi += 1
            continue
        if _merge_key_equal(items[pi], order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise StrategicMergeError(
            f"The order in patch list:\n{go_format(patch_list)}\n doesn't match {_SET_ORDER} list:\n{go_format(order)}\n"
        )


def _merge_key_equal(left: Any, right: Any, merge_key: str | None) -> bool:
    if not merge_key:
        return bool(same(left, right))
    if not isinstance(left, dict):
        raise bad_arg("map[string]interface {}", left)
    if not isinstance(right, dict):
        raise bad_arg("map[string]interface {}", right)
    if merge_key not in left:
        raise no_merge_key(left, merge_key)
    if merge_key not in right:
        raise no_merge_key(right, merge_key)
    return same(left[merge_key], right[merge_key])


def same(a: Any, b: Any) -> bool:
    """Go's interface equality on decoded JSON scalars (true != 1)."""
    return kind_of(a) == kind_of(b) and a == b


def element_kind(*lists: list[Any]) -> str:
    kind = ""
    for items in lists:
        for item in items:
            k = kind_of(item)
            if k == "slice":
                raise StrategicMergeError(ERR_NO_LIST_OF_LISTS, code=422)
            if kind and k != kind:
                raise StrategicMergeError(
                    f"list element types are not identical: {go_format([list(x) for x in lists])}"
                )
            kind = k
    if not kind:
        raise StrategicMergeError("no elements in any of the given slices")
    return kind


def merge_slice(
    original: list[Any],
    patch: list[Any],
    items: Schema | None,
    merge_key: str | None,
    is_delete_list: bool,
    merge_map: MergeMap,
) -> list[Any]:
    """Merge two lists of a ``merge`` strategy field (maps by ``merge_key``, scalars as a set)."""
    if not original and not patch:
        return original
    kind = element_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            return [v for v in original if not any(same(v, d) for d in patch)]
        merged: list[Any] = []
        for v in original + patch:
            if not any(same(v, m) for m in merged):
                merged.append(v)
        patch_items, server_only = partition_primitives(merged, patch)
        return normalize_element_order(patch_items, server_only, patch, original, None, kind)
    if not merge_key:
        raise StrategicMergeError(
            f"cannot merge lists without merge key for {items.name if items else 'map'}"
        )
    original, patch = _special_elements(original, patch, merge_key)
    merged_maps = list(original)
    for item in patch:
        if merge_key not in item:
            raise no_merge_key(item, merge_key)
        index = _find_by_key(merged_maps, merge_key, item[merge_key])
        if index >= 0:
            merged_maps[index] = merge_map(merged_maps[index], item, items)
            if index < len(original):
                original[index] = merged_maps[index]
        else:
            merged_maps.append(item)
    patch_items, server_only = partition_maps(merged_maps, patch, merge_key)
    return normalize_element_order(patch_items, server_only, patch, original, merge_key, kind)


def _special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise no_merge_key(item, merge_key)
            value = item[merge_key]
            original = [
                o
                for o in original
                if not (isinstance(o, dict) and merge_key in o and same(o[merge_key], value))
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise StrategicMergeError("merging lists cannot yet be specified in the patch")
        else:
            raise StrategicMergeError(f"unknown patch type: {go_format(directive)} in map: {go_format(item)}")
    if replace:
        return plain, []
    return original, plain


def _find_by_key(items: list[Any], key: str, value: Any) -> int:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise StrategicMergeError(f"value for key {i} is not a map")
        if key in item and same(item[key], value):
            return i
    return -1


def partition_primitives(merged: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    inside = [v for v in merged if any(same(v, b) for b in by)]
    outside = [v for v in merged if not any(same(v, b) for b in by)]
    return inside, outside


def partition_maps(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    inside: list[Any] = []
    outside: list[Any] = []
    for item in merged:
        if not isinstance(item, dict):
            raise bad_arg("map[string]interface {}", item)
        if merge_key not in item:
            raise no_merge_key(item, merge_key)
        (inside if _find_by_key(by, merge_key, item[merge_key]) >= 0 else outside).append(item)
    return inside, outside


def _index(items: list[Any], value: Any, merge_key: str | None, kind: str) -> int:
    if kind == "map":
        wanted = value.get(merge_key) if isinstance(value, dict) and merge_key else None
        for i, item in enumerate(items):
            if isinstance(item, dict) and merge_key and same(item.get(merge_key), wanted):
                return i
        return -1
    for i, item in enumerate(items):
        if same(item, value):
            return i
    return -1


def _normalize_slice_order(
    to_sort: list[Any], order: list[Any], merge_key: str | None, kind: str
) -> list[Any]:
    deleted: list[Any] = []
    if kind == "map":
        for item in [*to_sort, *order]:
            if not isinstance(item, dict):
                raise bad_arg("map[string]interface {}", item)
            if merge_key and merge_key not in item:
                raise no_merge_key(item, merge_key)
        deleted = [v for v in to_sort if v.get(DIRECTIVE) == "delete"]
        to_sort = [v for v in to_sort if v.get(DIRECTIVE) != "delete"]
    positions = [_index(order, v, merge_key, kind) for v in to_sort]
    ranked = sorted(range(len(to_sort)), key=lambda i: positions[i] if positions[i] >= 0 else len(order))
    return [to_sort[i] for i in ranked] + deleted


def normalize_element_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str | None,
    kind: str,
) -> list[Any]:
    """Patch items in patch order, server-only items in live order, interleaved by live order."""
    right = _normalize_slice_order(patch_items, patch_order, merge_key, kind)
    left = _normalize_slice_order(server_only, server_order, merge_key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out
