"""The write path's cheap copies and managedFields shortcuts, split from :mod:`.registry`.

- :func:`clone`: a deep copy of a JSON tree, several times cheaper than ``copy.deepcopy``;
- :func:`track_create`: ``track_update`` of a create, memoised on the object's owned content
  (a ReplicaSet's pods differ only in unowned metadata, so they share one field-set entry);
- :func:`track_write`: ``track_update`` of an update that skips the half of the object the
  endpoint cannot write (spec through /status, status through the main resource).

Called by :class:`gitkube.apiserver.registry.Registry` (which re-exports :func:`clone`).
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from typing import Any

from gitkube.api import meta, scheme
from gitkube.apiserver.patch import apply as ssa

__all__ = ["clone", "track_create", "track_write"]


def clone(value: Any) -> Any:
    """A deep copy of a JSON tree (dicts, lists, scalars): several times cheaper than
    ``copy.deepcopy``, which the write path would otherwise spend most of its time in."""
    if type(value) is dict:
        return {k: clone(v) if type(v) in (dict, list) else v for k, v in value.items()}
    if type(value) is list:
        return [clone(v) if type(v) in (dict, list) else v for v in value]
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


# metadata fields no manager owns (apply_managed._STRIP): they do not change a field set
_UNOWNED_META = frozenset(("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
                           "managedFields", "resourceVersion"))
_CREATE_CACHE_SIZE = 256
_create_fields: OrderedDict[tuple[str, str, str, str], list[dict[str, Any]]] = OrderedDict()


def track_create(info: scheme.ResourceInfo, obj: dict[str, Any], manager: str, now: str) -> None:
    """``track_update(None, obj, ...)``, memoised on the object's owned content: the objects a
    controller creates from one template (a ReplicaSet's pods) differ only in unowned metadata,
    so they get the same single field-set entry, stamped with ``now``."""
    if info.kind == "Event":  # all different: not worth a key
        ssa.track_update(None, obj, manager=manager, api_version=info.api_version, kind=info.kind, now=now)
        return
    m = obj.get("metadata") or {}
    shape = {k: v for k, v in obj.items() if k != "metadata" and not (k == "status" and info.has_status)}
    shape["metadata"] = {k: v for k, v in m.items() if k not in _UNOWNED_META}
    key = (info.api_version, info.kind, manager, json.dumps(shape, separators=(",", ":")))
    cached = _create_fields.get(key)
    if cached is None:
        ssa.track_update(None, obj, manager=manager, api_version=info.api_version, kind=info.kind, now=now)
        entries = obj.get("metadata", {}).get("managedFields")
        if isinstance(entries, list) and len(entries) == 1:
            _create_fields[key] = clone(entries)
            if len(_create_fields) > _CREATE_CACHE_SIZE:
                _create_fields.popitem(last=False)
        return
    _create_fields.move_to_end(key)
    m.pop("managedFields", None)
    m["managedFields"] = [{k: (now if k == "time" else clone(v)) for k, v in e.items()} for e in cached]


def track_write(info: scheme.ResourceInfo, live: dict[str, Any], new: dict[str, Any], *, manager: str,
                subresource: str) -> None:
    """``track_update`` of an update, without walking the part of the object the endpoint
    cannot write (spec through /status, status through the main resource): it is equal in
    ``live`` and ``new`` here, and ignored by the field manager anyway. The views share
    ``new``'s metadata, where the result lands."""
    skip = "spec" if subresource == "status" else "status" if not subresource and info.has_status else ""
    if skip and live.get(skip) == new.get(skip):
        live = {k: v for k, v in live.items() if k != skip}
        new = {k: v for k, v in new.items() if k != skip}
    ssa.track_update(live, new, manager=manager, api_version=info.api_version, kind=info.kind, now=meta.now(),
                     subresource=subresource)
