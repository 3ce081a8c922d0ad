"""The parse cache: blob sha -> parsed and validated result, persisted between runs.

A git blob sha names its content, so a blob parsed once never needs parsing again: a new commit
re-parses only the files it changed, and a restarted daemon none at all. Each entry is kept as
``marshal`` bytes (:data:`gitkube.manifests.blob.Entry`), so every lookup hands out fresh objects
that callers may mutate, and the file is the same bytes written out. ``marshal`` rather than
``pickle``: reading a tampered file cannot run code. The file records a version tag (parser
version, schema version, the served kinds); a different tag, or any error reading the file,
starts an empty cache. Writes are atomic (temp file 0600 + rename) and happen only when
something changed. The least recently used entries beyond :data:`MAX_ENTRIES` are dropped on save.

Thread-safe. Callers: :func:`gitkube.manifests.load`; the daemon owns one per data dir and calls
:meth:`ParseCache.save` after a load.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, cast

from gitkube.api.schema import SCHEMA_VERSION
from gitkube.api.scheme import ALL_RESOURCES
from gitkube.manifests.blob import Entry

__all__ = ["MAX_ENTRIES", "PARSER_VERSION", "ParseCache", "version_tag"]

log = logging.getLogger(__name__)

PARSER_VERSION = 1  # bump whenever parse_blob's output for the same bytes can change
MAX_ENTRIES = 50_000


def version_tag() -> str:
    """Changes whenever the same blob could parse or validate differently."""
    kinds = ",".join(sorted(f"{r.group}/{r.version}/{r.kind}/{int(r.namespaced)}" for r in ALL_RESOURCES))
    digest = hashlib.sha256(kinds.encode()).hexdigest()[:16]
    return f"gitkube-manifests/{PARSER_VERSION}/{SCHEMA_VERSION}/{digest}"


class ParseCache:
    """Parsed blobs by sha (and rendered kustomizations by content key)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._tag = version_tag()
        self._entries: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self.hits = 0
        self.misses = 0
        if path is not None:
            self._entries = self._read(path)

    def _read(self, path: Path) -> dict[str, bytes]:
        try:
            with open(path, "rb") as fh:
                data = marshal.load(fh)
            if not (isinstance(data, dict) and data.get("tag") == self._tag and isinstance(data.get("entries"), dict)):
                log.info("parse cache %s is from another version; starting empty", path)
                return {}
            return cast(dict[str, bytes], data["entries"])
        except FileNotFoundError:
            return {}
        except Exception as exc:  # any unreadable cache is just an empty one
            log.warning("parse cache %s unreadable (%s); starting empty", path, exc)
            return {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> Entry | None:
        """A fresh copy of the entry for ``key``, or None."""
        with self._lock:
            raw = self._entries.pop(key, None)
            if raw is None:
                self.misses += 1
                return None
            self._entries[key] = raw  # most recently used last
            self.hits += 1
        try:
            return cast(Entry, marshal.loads(raw))
        except Exception:
            with self._lock:
                self._entries.pop(key, None)
            return None

    def put(self, key: str, entry: Entry) -> None:
        self.put_raw(key, marshal.dumps(entry))

    def put_raw(self, key: str, raw: bytes) -> None:
        """Store an entry already marshalled (by a worker process)."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = raw
            self._dirty = True

    def save(self) -> None:
        """Write the cache file if anything changed (atomic, mode 0600)."""
        if self.path is None:
            return
        with self._lock:
            if not self._dirty:
                return
            while len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
            payload: dict[str, Any] = {"tag": self._tag, "entries": dict(self._entries)}
            self._dirty = False
        data = marshal.dumps(payload)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".parse-cache.", dir=self.path.parent)  # mkstemp: 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with self._lock:
                self._dirty = True
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
