"""How :class:`~gitkube.store.etcd.EtcdStore` lays objects out in etcd, and reads them back.

- Keys: the store key (``/registry/core/pods/ns/web``) behind the URL's prefix, UTF-8; a key
  prefix ``p`` is the etcd range ``[p, prefix_end(p))``.
- Values: the object as compact JSON without ``metadata.resourceVersion``. As in Kubernetes,
  the resourceVersion is not stored: it is set on every read from the key's ``mod_revision``
  (for a deleted object, from the delete's revision).
- Revisions: gitkube revision = etcd revision - ``base``, where ``base`` is the etcd revision
  at which the store's prefix was first used (the create revision of its marker key), so a new
  store starts at revision 0 and every process on the same etcd and prefix sees the same
  sequence. Writes elsewhere in the same etcd advance it too (gaps are allowed).
- Meta keys (marker, compaction record) live under ``<prefix>/gitkube-store/``, outside
  ``/registry/``; lists and watches skip them.

Pure; used by ``gitkube.store.etcd`` and ``gitkube.store.etcd_watch``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitkube import errors
from gitkube.store import keyspace
from gitkube.store.base import WatchEvent

__all__ = ["META_PREFIX", "Codec"]

_log = logging.getLogger(__name__)

META_PREFIX = "/gitkube-store/"
_PUT, _DELETE = 0, 1


def encode(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON of ``obj`` without ``metadata.resourceVersion``."""
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise errors.InternalError("cannot store object: metadata is not a JSON object")
    out = dict(obj)
    out["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
    try:
        return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise errors.InternalError(f"cannot store object: not representable as JSON: {exc}") from exc


@dataclass(frozen=True)
class Codec:
    """Keys, values and revisions of one store (its key ``prefix`` and revision ``base``)."""

    prefix: str
    base: int
    where: str  # for messages: the etcd endpoints

    @property
    def marker_key(self) -> bytes:
        return marker_key(self.prefix)

    @property
    def compacted_key(self) -> bytes:
        return f"{self.prefix}{META_PREFIX}compacted".encode()

    def key(self, key: str) -> bytes:
        return (self.prefix + key).encode()

    def range(self, prefix: str) -> tuple[bytes, bytes]:
        """``(start, end)`` of the etcd range holding the keys that start with ``prefix``."""
        full = self.prefix + prefix
        end = keyspace.prefix_end(full)
        return full.encode(), (end.encode() if end is not None else b"\x00")

    def logical(self, raw: bytes) -> str:
        return raw.decode()[len(self.prefix) :]

    @staticmethod
    def is_meta(key: str) -> bool:
        return key.startswith(META_PREFIX)

    def revision(self, etcd_revision: int) -> int:
        return max(0, etcd_revision - self.base)

    def etcd_revision(self, revision: int) -> int:
        return revision + self.base

    def decode(self, value: bytes, etcd_revision: int, key: str) -> dict[str, Any]:
        """The stored object with ``metadata.resourceVersion`` set to ``etcd_revision``."""
        try:
            obj = json.loads(value)
        except ValueError as exc:
            raise errors.StoreError(f"etcd at {self.where}: the value stored at {key!r} is not JSON") from exc
        if not isinstance(obj, dict):
            raise errors.StoreError(f"etcd at {self.where}: the value stored at {key!r} is not an object")
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        meta["resourceVersion"] = str(self.revision(etcd_revision))
        return obj

    def event(self, ev: Any) -> WatchEvent | None:
        """The :class:`WatchEvent` of an etcd ``mvccpb.Event`` (``None`` for a meta key)."""
        kv = ev.kv
        key = self.logical(kv.key)
        if self.is_meta(key):
            return None
        revision = self.revision(kv.mod_revision)
        prev = ev.prev_kv if ev.HasField("prev_kv") else None
        prev_obj = self.decode(prev.value, prev.mod_revision, key) if prev is not None else None
        if ev.type == _DELETE:
            if prev is None:  # its previous value was compacted away: only the key is known
                _log.warning("etcd delete event of %s at revision %d has no previous value", key, revision)
                obj: dict[str, Any] = {"metadata": {"name": key.rsplit("/", 1)[-1],
                                                    "resourceVersion": str(revision)}}
            else:
                obj = self.decode(prev.value, kv.mod_revision, key)
            return WatchEvent("DELETED", key, obj, prev_obj, revision)
        obj = self.decode(kv.value, kv.mod_revision, key)
        if kv.create_revision == kv.mod_revision:
            return WatchEvent("ADDED", key, obj, None, revision)
        return WatchEvent("MODIFIED", key, obj, prev_obj, revision)


def marker_key(prefix: str) -> bytes:
    """The key whose create revision is the ``base`` of the store at ``prefix``."""
    return f"{prefix}{META_PREFIX}base".encode()
