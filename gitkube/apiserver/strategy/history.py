"""ControllerRevision (apps/v1) strategy: the snapshots DaemonSets and StatefulSets keep of
their pod templates (``kubectl rollout history|undo`` reads them).

As ``ValidateControllerRevision`` / ``ValidateControllerRevisionUpdate`` in Kubernetes: the
name is a DNS subdomain, ``data`` is mandatory (``data: Required value: data is mandatory``),
``revision`` is non-negative, and ``data`` never changes after creation
(``data: Invalid value: ...: field is immutable``); ``revision`` and the metadata may change
(controllers renumber a revision they roll back to). No defaults.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy
from gitkube.apiserver.strategy.meta import nonnegative
from gitkube.errors import Cause

__all__ = ["CONTROLLERREVISION", "default_controller_revision", "validate_controller_revision"]


def default_controller_revision(obj: dict[str, Any]) -> None:
    """ControllerRevision has no defaults."""


def validate_controller_revision(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if obj.get("data") is None:
        out.append(c.required("data", "data is mandatory"))
    out += nonnegative(obj, "revision", "")
    if old is not None and obj.get("data") != old.get("data"):
        out.append(c.immutable("data", obj.get("data")))
    return out


CONTROLLERREVISION = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_controller_revision,
                                  validate=validate_controller_revision)
