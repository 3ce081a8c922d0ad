"""The revisioned object store behind the API server.

Re-exports the :class:`Store` interface and its value types, the SQLite implementation, and
:func:`open_store`, which picks an implementation from the ``--store`` setting (the etcd store,
:class:`gitkube.store.etcd.EtcdStore`, is imported only when an ``etcd://`` URL asks for it). Only
``gitkube.apiserver`` (and the composition root that builds it) uses this package.
"""

from __future__ import annotations

import pathlib

from gitkube import errors
from gitkube.store.base import EventType, ListResult, Store, WatchEvent
from gitkube.store.sqlite import SqliteStore

__all__ = ["DB_FILE", "EventType", "ListResult", "SqliteStore", "Store", "WatchEvent", "open_store"]

DB_FILE = "state.db"


def open_store(url: str, data_dir: pathlib.Path, *, history: int = 10_000) -> Store:
    """The (not yet opened) store that ``url`` names; await ``store.open()`` before use.

    - ``sqlite`` or ``sqlite://``: ``DATA/state.db``;
    - ``sqlite:///abs/path.db``: that file; ``sqlite://rel/path.db``: relative to ``data_dir``;
    - ``etcd://HOST:PORT[,HOST:PORT...][/prefix]``: an etcd cluster (port 2379 by default), keys
      under the optional prefix (:class:`gitkube.store.etcd.EtcdStore`).

    ``history`` is how many revisions of watch history the store keeps at least (it compacts
    older ones on its own; pass the same value the API server's compaction uses).
    Anything else raises ``ConfigError`` naming the value.
    """
    text = url.strip()
    if text.startswith(("etcd://", "etcds://")):
        from gitkube.store.etcd import EtcdStore  # grpc is loaded only for an etcd store

        return EtcdStore(text, history=history)
    if text == "sqlite":
        return SqliteStore(pathlib.Path(data_dir) / DB_FILE, history=history)
    if text.startswith("sqlite://"):
        rest = text[len("sqlite://") :]
        if not rest:
            return SqliteStore(pathlib.Path(data_dir) / DB_FILE, history=history)
        path = pathlib.Path(rest)
        if rest.endswith("/"):
            raise errors.ConfigError(f"store URL {url!r} names a directory, not a database file")
        return SqliteStore(path if path.is_absolute() else pathlib.Path(data_dir) / path, history=history)
    raise errors.ConfigError(
        f"unsupported store {url!r}: use 'sqlite' (DATA/{DB_FILE}), 'sqlite:///path/to/file.db' "
        "or 'etcd://HOST:PORT[/prefix]'"
    )
