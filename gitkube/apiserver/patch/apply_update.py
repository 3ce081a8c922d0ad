"""Field ownership for ordinary writes (create, update, JSON/merge/strategic patch).

:func:`track_update` records, in ``new["metadata"]["managedFields"]``, that the writing manager
(operation ``Update``) now owns the fields the write added or changed; other managers lose them,
and fields the write removed are removed from everyone. A write that changes nothing leaves the
managed fields as they were.

Clients may write ``managedFields`` themselves (kubectl's client-side to server-side apply
upgrade sends a JSON patch on ``/metadata/managedFields``): a non-empty, valid list in the
request replaces the stored one, and this write's own changes are then recorded on top of it.
A request list that is empty (``[]``) or holds one empty entry (``[{}]``) resets the managed
fields: only what this write changed is kept (Kubernetes' ``isResetManagedFields``). A list
that cannot be decoded, or a missing one, keeps the stored managed fields, so clients that
do not know managedFields never wipe them. Writes through a subresource never set managedFields.

Callers: the API server's create/update/patch handlers, after the new object is final.
"""

from __future__ import annotations

import copy
from typing import Any

from gitkube.api.schema import Schema, schema_for
from gitkube.api.scheme import by_kind
from gitkube.api.typed import compare
from gitkube.apiserver.patch.apply_managed import (
    Managed,
    ManagerKey,
    VersionedSet,
    cap_update_managers,
    decode_managed_fields,
    encode_managed_fields,
    ignored_fields,
    strip_meta,
    update_ownership,
)
from gitkube.apiserver.patch.apply_raw import update_entries, usable

__all__ = ["is_reset_managed_fields", "manager_or_user_agent", "track_update"]

_CURRENT = ManagerKey("current-operation", "Update")


def manager_or_user_agent(manager: str | None, user_agent: str) -> str:
    """The manager name of a write: ``fieldManager``, else the user agent before its first ``/``."""
    if manager:
        return manager
    out = ""
    for ch in user_agent.split("/", 1)[0]:
        if not ch.isprintable():
            continue
        if len(out.encode()) >= 128:
            break
        out += ch
    return out


def is_reset_managed_fields(entries: Any) -> bool:
    """True for ``[]`` and ``[{}]``: the client asks to clear the managed fields."""
    if not isinstance(entries, list):
        return False
    return len(entries) == 0 or (len(entries) == 1 and entries[0] == {})


def track_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    kind: str,
    now: str,
    subresource: str = "",
) -> None:
    """Record ``manager``'s ownership of what changed from ``old`` (None: create) to ``new``, in ``new``."""
    node = schema_for(api_version, kind)
    old_meta = (old or {}).get("metadata") or {}
    stored = old_meta.get("managedFields") if isinstance(old_meta, dict) else None
    meta = new.setdefault("metadata", {})
    requested_present = "managedFields" in meta
    requested = meta.pop("managedFields", None)

    if isinstance(stored, list) and usable(stored) and (subresource or not requested_present or requested == stored):
        if _track_stored(old, new, meta, stored, manager=manager, api_version=api_version, kind=kind, now=now,
                         subresource=subresource, node=node):
            return

    source = stored
    if subresource:
        managed = _decode_or_empty(stored)
    elif requested_present and is_reset_managed_fields(requested):
        managed, source = Managed(), None
    else:
        try:
            managed = decode_managed_fields(requested)
            source = requested
        except ValueError:
            managed = Managed()
        if not managed.fields:
            managed, source = _decode_or_empty(stored), stored

    before = _without_managed_fields(old)
    info = by_kind(api_version, kind)
    ignored = ignored_fields(info is not None and info.has_status, subresource)
    fields, cmp = update_ownership(
        before, new, managed.fields, _CURRENT, force=True, ignored=ignored, node=node
    )
    unchanged = all(strip_meta(s).empty() for s in (cmp.added, cmp.modified, cmp.removed))
    if unchanged and source is stored and stored is not None:
        meta["managedFields"] = copy.deepcopy(source)
        return

    times = {k: managed.times.get(k) for k in fields}
    mine = strip_meta(cmp.modified.union(cmp.added).difference(cmp.removed).recursive_difference(ignored))
    if not mine.empty():
        key = ManagerKey(manager, "Update", api_version, subresource)
        previous = fields.get(key)
        owned = mine.union(previous.fields) if previous is not None else mine
        fields[key] = VersionedSet(owned, api_version, False)
        times[key] = now
    result = Managed(fields, times)
    cap_update_managers(result)
    encoded = encode_managed_fields(result)
    if encoded:
        meta["managedFields"] = encoded


def _track_stored(old: dict[str, Any] | None, new: dict[str, Any], meta: dict[str, Any], stored: list[dict[str, Any]],
                  *, manager: str, api_version: str, kind: str, now: str, subresource: str,
                  node: Schema | None) -> bool:
    """:func:`track_update` when the stored entries stand (the usual write): only the entries the
    change reaches are decoded (:mod:`.apply_raw`). False when it cannot tell (malformed keys)."""
    info = by_kind(api_version, kind)
    ignored = ignored_fields(info is not None and info.has_status, subresource)
    cmp = compare(_without_managed_fields(old), new, node).exclude(ignored)
    if all(strip_meta(s).empty() for s in (cmp.added, cmp.modified, cmp.removed)):
        meta["managedFields"] = _clone(stored)
        return True
    mine = strip_meta(cmp.modified.union(cmp.added).difference(cmp.removed).recursive_difference(ignored))
    writer = ManagerKey(manager, "Update", api_version, subresource)
    try:
        entries = update_entries(stored, cmp.modified.union(cmp.added), cmp.removed, mine, writer, now)
    except ValueError:
        return False
    if entries:
        meta["managedFields"] = entries
    return True


def _clone(value: Any) -> Any:
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    if type(value) is list:
        return [_clone(v) for v in value]
    return value


def _decode_or_empty(entries: Any) -> Managed:
    try:
        return decode_managed_fields(entries)
    except ValueError:
        return Managed()


def _without_managed_fields(obj: dict[str, Any] | None) -> dict[str, Any]:
    if obj is None:
        return {}
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out
