"""The Store interface: a revisioned key/value store of API objects with watch.

Only ``gitkube.apiserver`` uses a Store (layering rule R1). Implementations: ``sqlite``
(default, one file, WAL) and, later, ``etcd``. Every implementation passes the conformance
suite in ``tests/unit/store/conformance.py``.

Semantics (those of the Kubernetes storage layer over etcd3):

- One global, monotonic revision counter. Every successful write (create, update that
  changes something, delete) takes the next revision, and the stored object's
  ``metadata.resourceVersion`` is that revision as a decimal string.
- Objects are JSON-able dicts; keys are strings from ``gitkube.api.scheme.storage_key``.
  The store does not interpret objects beyond ``metadata.resourceVersion``, labels and the
  dotted field paths used by field selectors.
- ``update`` is a compare-and-swap: with ``expected_rv`` it fails with ``Conflict`` unless the
  stored object still has that resourceVersion. An update whose object equals the stored one
  (ignoring ``metadata.resourceVersion``) is a no-op: no new revision, the stored object is
  returned unchanged.
- ``list`` returns a consistent page plus the revision it was read at. ``limit`` and the
  returned ``continue_token`` page through keys in order.
- ``watch(prefix, since)`` yields every change with revision > ``since`` under the prefix,
  first the retained history, then live events, in revision order, with no gaps or
  duplicates. ``since`` older than the compacted revision raises ``Gone`` (HTTP 410).
  DELETED events carry the object as it was, with the delete's revision as resourceVersion.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from gitkube.api import selectors

__all__ = ["EventType", "ListResult", "Store", "WatchEvent"]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class WatchEvent:
    """One change: its type, the key, the object after it (before it, for DELETED),
    the object before it (None for ADDED) and the revision of the change."""

    type: EventType
    key: str
    object: dict[str, Any]
    prev_object: dict[str, Any] | None
    revision: int


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    revision: int
    continue_token: str = ""
    remaining: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Store(abc.ABC):
    """A revisioned object store with compare-and-swap and watch (see the module doc)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open files or connections; create the schema on first use."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release everything; pending watches end."""

    @abc.abstractmethod
    async def create(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; ``AlreadyExists`` if the key is taken. Returns it with its
        resourceVersion set."""

    @abc.abstractmethod
    async def get(self, key: str) -> dict[str, Any]:
        """The object at ``key``; ``NotFound`` if there is none."""

    @abc.abstractmethod
    async def update(
        self, key: str, obj: dict[str, Any], *, expected_rv: str | None = None
    ) -> dict[str, Any]:
        """Replace the object at ``key``. ``NotFound`` if absent; ``Conflict`` if
        ``expected_rv`` is given and differs from the stored resourceVersion. A write equal
        to what is stored changes nothing and returns the stored object."""

    @abc.abstractmethod
    async def delete(self, key: str, *, expected_rv: str | None = None) -> dict[str, Any]:
        """Remove the object; returns it as it was, with the delete revision as its
        resourceVersion. ``NotFound`` / ``Conflict`` as for update."""

    @abc.abstractmethod
    async def list(
        self,
        prefix: str,
        *,
        label_selector: selectors.LabelSelector | None = None,
        field_selector: selectors.FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> ListResult:
        """Objects whose key starts with ``prefix`` and that match both selectors, in key
        order. ``limit`` > 0 pages; pass the returned ``continue_token`` back for the next
        page. A malformed or expired token raises ``BadRequest`` / ``Gone``."""

    @abc.abstractmethod
    def watch(self, prefix: str, since: int) -> AsyncIterator[WatchEvent]:
        """Changes under ``prefix`` with revision > ``since`` (see the module doc).
        ``Gone`` if ``since`` is older than the compacted revision. The iterator ends
        when the store closes; callers cancel it to stop early."""

    @abc.abstractmethod
    async def current_revision(self) -> int:
        """The revision of the newest write (0 for an empty store)."""

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision``: watches from there raise ``Gone``."""

    @abc.abstractmethod
    async def compacted_revision(self) -> int:
        """The newest revision whose history was forgotten (0 if none)."""
