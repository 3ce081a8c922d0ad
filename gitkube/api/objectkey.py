"""The identity of one object in a desired or live set: group, kind, namespace, name.

Two manifests with the same key are the same object (a duplicate); the plan matches desired
and live objects by key; the release log records keys. The version is not part of the identity,
as in Kubernetes (``apps/v1`` and a later ``apps/v2`` Deployment named ``web`` are one object).
Used by ``gitkube.manifests``, ``gitkube.plan``, ``gitkube.health`` and ``gitkube.sync``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ObjectKey", "group_of"]


def group_of(api_version: str) -> str:
    """``apps/v1`` → ``apps``; ``v1`` → ``""`` (the core group)."""
    group, sep, _ = api_version.rpartition("/")
    return group if sep else ""


@dataclass(frozen=True, order=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str  # "" for cluster-scoped kinds
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        meta = obj.get("metadata") or {}
        return cls(group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")),
                   str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """The inverse of :meth:`__str__`."""
        gk, _, rest = text.partition(" ")
        kind, _, group = gk.partition(".")
        namespace, sep, name = rest.rpartition("/")
        return cls(group, kind, namespace if sep else "", name)

    @property
    def group_kind(self) -> str:
        """``Deployment.apps``, ``Service`` (kubectl's spelling)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        """``Deployment.apps default/web``, ``Namespace shop`` - stable, parseable, readable."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.group_kind} {where}"
