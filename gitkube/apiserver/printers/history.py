"""Printer for apps/v1 ControllerRevision, ported from Kubernetes 1.32 ``printControllerRevision``:
NAME CONTROLLER REVISION AGE.

CONTROLLER is the controlling owner as ``<kind>.<group>/<name>`` lower-cased
(``daemonset.apps/web``), or ``<none>``; REVISION is the integer ``revision``. Used through
``gitkube.apiserver.printers.PRINTERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer
from gitkube.apiserver.printers.format import translate_timestamp_since

__all__ = ["CONTROLLERREVISION", "controller_name"]

_REVISION_DOC = "Revision indicates the revision of the state represented by Data."


def controller_name(obj: Mapping[str, Any]) -> str:
    """``formatResourceName(gvk.GroupKind(), ref.Name, true)`` of the controller ref, or ``<none>``."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") is True:
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            kind = str(ref.get("kind") or "")
            group_kind = f"{kind}.{group}" if group else kind
            name = str(ref.get("name") or "")
            return f"{group_kind.lower()}/{name}" if group_kind else name
    return "<none>"


def _controller_revision(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    meta = obj.get("metadata") or {}
    return [
        str(meta.get("name") or ""),
        controller_name(obj),
        int(obj.get("revision") or 0),
        translate_timestamp_since(meta.get("creationTimestamp"), now),
    ]


CONTROLLERREVISION = Printer(
    columns=(
        NAME,
        Column("Controller", description="Controller of the object"),
        Column("Revision", description=_REVISION_DOC),
        AGE,
    ),
    row=_controller_revision,
)
