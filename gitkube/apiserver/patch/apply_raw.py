"""The ordinary-write ownership update on stored ``managedFields`` entries, without decoding them.

:func:`.apply_update.track_update` decodes every manager's entry into a field set, takes away
what the write changed and encodes everything again. On a status write most entries (the
creator's spec fields, other status writers' fields) do not meet the changed fields at all, and
the writer's own entry usually already holds every field it writes. :func:`update_entries` does
the same step on the stored JSON: an entry is decoded only when the write's changed or removed
fields reach into it, and the writer's own entry keeps its ``fieldsV1`` (only its ``time`` moves)
when it already owns all it wrote. The result is the list ``encode_managed_fields`` would build.

FieldsV1 keys of stored entries are compared as text with the canonical keys of the change
(the encoder's), falling back to parsing ``k:``/``v:`` keys written in another form.

Called by :func:`.apply_update.track_update` only; it falls back to the full path (``None``) for
anything unusual: invalid entries, a manager count at the cap.
"""

from __future__ import annotations

import functools
from typing import Any

from gitkube.api.fieldsv1 import FieldSet, _deserialize_pe, _serialize_pe
from gitkube.apiserver.patch.apply_managed import (
    MAX_UPDATE_MANAGERS,
    Managed,
    ManagerKey,
    VersionedSet,
    _seconds,
    encode_managed_fields,
)

__all__ = ["update_entries", "usable"]


def usable(entries: Any) -> bool:
    """True when ``entries`` is a non-empty list of well-formed entries below the manager cap."""
    if not isinstance(entries, list) or not entries:
        return False
    updaters = 0
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("fieldsType") != "FieldsV1":
            return False
        if entry.get("operation") not in ("Apply", "Update") or not entry.get("apiVersion"):
            return False
        if not isinstance(entry.get("fieldsV1"), dict):
            return False
        updaters += entry["operation"] == "Update"
    return updaters < MAX_UPDATE_MANAGERS


def _key_of(entry: dict[str, Any]) -> ManagerKey:
    operation = str(entry["operation"])
    return ManagerKey(str(entry.get("manager") or ""), operation,
                      "" if operation == "Apply" else str(entry["apiVersion"]), str(entry.get("subresource") or ""))


@functools.lru_cache(maxsize=4096)
def _canonical(key: str) -> str:
    pe = _deserialize_pe(key)
    return key if pe is None else _serialize_pe(pe)


def _child(node: dict[str, Any], key: str) -> Any:
    found = node.get(key)
    if found is not None or key[:2] not in ("k:", "v:"):
        return found
    for other in node:
        if other[:2] == key[:2] and _canonical(other) == key:
            return node[other]
    return None


def _member(node: dict[str, Any]) -> bool:
    return not node or "." in node


def _intersects(stored: dict[str, Any], canon: dict[str, Any]) -> bool:
    """Whether the two FieldsV1 trees share a member path."""
    for key, sub in canon.items():
        if key == ".":
            continue
        mine = _child(stored, key)
        if not isinstance(mine, dict):
            continue
        if _member(mine) and _member(sub):
            return True
        if mine and sub and _intersects(mine, sub):
            return True
    return False


def _contains(stored: dict[str, Any], canon: dict[str, Any]) -> bool:
    """Whether every member path of ``canon`` is a member path of ``stored``."""
    for key, sub in canon.items():
        if key == ".":
            continue
        mine = _child(stored, key)
        if not isinstance(mine, dict):
            return False
        if _member(sub) and not _member(mine):
            return False
        if sub and not _contains(mine, sub):
            return False
    return True


def _encoded(key: ManagerKey, fields: FieldSet, api_version: str, time: str | None) -> list[dict[str, Any]]:
    return encode_managed_fields(Managed({key: VersionedSet(fields, api_version, key.operation == "Apply")},
                                         {key: time}))


def update_entries(stored: list[dict[str, Any]], changed: FieldSet, removed: FieldSet, mine: FieldSet,
                   writer: ManagerKey, now: str) -> list[dict[str, Any]]:
    """``stored`` after a write by ``writer`` that changed (modified or added) ``changed``,
    removed ``removed`` and now owns ``mine``: as ``update_ownership`` + ``encode_managed_fields``.
    Raises ValueError on malformed FieldsV1 keys (the caller then takes the full path)."""
    changed_tree = changed.to_fields_v1()
    removed_tree = removed.to_fields_v1() if not removed.empty() else {}
    mine_tree = mine.to_fields_v1() if not mine.empty() else {}
    out: list[dict[str, Any]] = []
    own_seen = False
    for entry in stored:
        key = _key_of(entry)
        raw = entry["fieldsV1"]
        own = key == writer and bool(mine_tree)
        own_seen = own_seen or own
        clash = _intersects(raw, changed_tree)
        lost = bool(removed_tree) and _intersects(raw, removed_tree)
        if own and not lost and _contains(raw, mine_tree):
            out.append({**entry, "time": now})  # the same fields, a new time
            continue
        if not own and not clash and not lost:
            if raw:
                out.append(dict(entry))
            continue
        fields = FieldSet.from_fields_v1(raw)
        if clash:
            fields = fields.difference(fields.intersection(changed))
        if lost:
            fields = fields.difference(removed)
        time = entry.get("time")
        if own:
            fields = mine.union(fields)
            time = now
        out.extend(_encoded(key, fields, str(entry["apiVersion"]), str(time) if time else None))
    if mine_tree and not own_seen:
        out.extend(_encoded(writer, mine, writer.api_version, now))
    out.sort(key=lambda e: (e["operation"], _seconds(e.get("time")), e.get("manager") or "", e["apiVersion"],
                            e.get("subresource") or ""))
    return out
