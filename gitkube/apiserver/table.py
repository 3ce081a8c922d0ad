"""Table conversion: the ``meta.k8s.io/v1`` Table the API server sends to ``kubectl get``.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` (then falls back
to ``v1beta1`` and plain JSON) and prints whatever columns the server returns
(KUBECTL-COMPAT.md §3.1). :func:`wants_table` reads that Accept header; :func:`to_table`
turns the listed (or the one fetched) objects into the Table, with:

- ``columnDefinitions`` from the kind's printer (``gitkube.apiserver.printers``); the name
  column has ``format: name`` and ``-o wide`` columns have ``priority: 1``. Like the real
  server, every row always carries the wide cells; kubectl hides them.
- one row per object: ``cells`` (strings and integers as Kubernetes sends them), row
  ``conditions`` when the printer sets some (finished pods), and ``object`` chosen by
  ``includeObject``: ``Metadata`` (the default, also for "") gives a
  ``meta.k8s.io/v1`` ``PartialObjectMetadata`` with the object's full metadata, ``Object``
  the whole object, ``None`` a null ``object`` (what a real server encodes). Any other value
  is a 400, worded as Kubernetes words it.
- ``metadata``: the list metadata (``resourceVersion``, ``continue``); for a single GET pass
  ``{"resourceVersion": <the object's>}``, as the real server does.

Rows share nested dicts with the objects passed in: serialise the Table, do not mutate it.
Called by the API server's get/list/watch handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gitkube import errors
from gitkube.api.scheme import ResourceInfo
from gitkube.apiserver import printers

__all__ = ["INCLUDE_OBJECT_VALUES", "TABLE_CONTENT_TYPE", "to_table", "wants_table"]

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
"""The Content-Type of a Table reply."""

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")
"""The values of the ``includeObject`` query parameter (an empty value means ``Metadata``)."""


def wants_table(accept: str | None) -> bool:
    """Whether an Accept header prefers a ``meta.k8s.io/v1`` Table to plain JSON.

    The media ranges are taken in the order given (kubectl lists the Table first and plain
    ``application/json`` last); ranges with ``q=0`` are skipped. A Table in another version
    (``v1beta1``) is not offered, so such a range is passed over.
    """
    for clause in (accept or "").split(","):
        media, *raw_params = (part.strip() for part in clause.split(";"))
        params = dict(p.partition("=")[::2] for p in raw_params)
        if params.get("q", "").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if media not in ("application/json", "application/*", "*/*"):
            continue
        if "as" not in params:
            return False
        if params["as"] == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") == "v1":
            return True
    return False


def _row_object(info: ResourceInfo, obj: Mapping[str, Any], include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        if obj.get("kind") and obj.get("apiVersion"):
            return obj
        return {**obj, "kind": info.kind, "apiVersion": info.api_version}
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    info: ResourceInfo,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    list_meta: dict[str, Any] | None = None,
    no_headers: bool = False,
) -> dict[str, Any]:
    """Render *objects* of one resource as a ``meta.k8s.io/v1`` Table.

    *now* fixes the clock for the age cells (default: the current UTC time; a naive value is
    taken as UTC). *no_headers* leaves ``columnDefinitions`` empty, as the real server does
    for watch events after the first. Raises :class:`gitkube.errors.BadRequest` for an
    unknown *include_object*.
    """
    mode = include_object or "Metadata"
    if mode not in INCLUDE_OBJECT_VALUES:
        raise errors.BadRequest(f'unrecognized includeObject value: "{include_object}"')
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    printer = printers.printer_for(info.group, info.kind)
    rows: list[dict[str, Any]] = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.row(obj, now)}
        if printer.conditions is not None:
            conditions = printer.conditions(obj)
            if conditions:
                row["conditions"] = conditions
        row["object"] = _row_object(info, obj, mode)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_meta or {}),
        "columnDefinitions": [] if no_headers else [c.to_dict() for c in printer.columns],
        "rows": rows,
    }
