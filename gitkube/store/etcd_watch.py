"""Watches of :class:`~gitkube.store.etcd.EtcdStore`: an etcd watch per gitkube watch.

:func:`follow` yields the changes under a key prefix after a revision, from an etcd Watch
stream started at the next revision with ``prev_kv`` (so DELETED events carry the object and
MODIFIED events the object before). Because it is etcd's own watch, writes made by another
gitkube process on the same etcd show up like local ones.

Restarts: when the stream breaks (etcd restarted, the member in use died, a keepalive went
unanswered) the watch is opened again from the revision after the last one delivered, waiting
for etcd as long as it takes, so the caller sees no gap and no duplicate. If etcd compacted
that revision meanwhile, the caller gets ``Gone`` (HTTP 410, "too old resource version") and
re-lists, as the Store contract says. The watch ends quietly when the store closes.

Used only by ``gitkube.store.etcd``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

import grpc
from aetcd import rpc

from gitkube import errors
from gitkube.store.base import WatchEvent
from gitkube.store.etcd_client import EtcdConnection
from gitkube.store.etcd_codec import Codec

__all__ = ["follow", "too_old"]

_log = logging.getLogger(__name__)

_RESTART_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED,
})
_MAX_BACKOFF = 1.0


class _StreamEnded(Exception):
    """etcd closed the watch stream without an error (internal: the watch is opened again)."""


def too_old(since: int, compacted: int) -> errors.Gone:
    return errors.Gone(f"too old resource version: {since} ({compacted})")


def _closing(conn: EtcdConnection) -> bool:
    """True when the store is closing and the current task itself was not cancelled."""
    task = asyncio.current_task()
    return conn.closed and (task is None or not task.cancelling())


async def follow(conn: EtcdConnection, codec: Codec, prefix: str, since: int) -> AsyncGenerator[WatchEvent, None]:
    """Every change under ``prefix`` with revision > ``since``, in order (see the module doc)."""
    start, end = codec.range(prefix)
    last = since
    backoff = 0.05
    lost_at: float | None = None
    loop = asyncio.get_running_loop()
    while not conn.closed:
        call = conn.open_watch()
        try:
            create = rpc.WatchCreateRequest(key=start, range_end=end, prev_kv=True,
                                            start_revision=codec.etcd_revision(last + 1))
            await call.write(rpc.WatchRequest(create_request=create))
            while True:
                resp = await call.read()
                if resp is grpc.aio.EOF:
                    raise _StreamEnded
                if resp.compact_revision:
                    raise too_old(last, codec.revision(resp.compact_revision) - 1)
                if resp.canceled:
                    raise errors.StoreError(
                        f"etcd at {conn.address.display} cancelled the watch of {prefix!r}: {resp.cancel_reason}"
                    )
                if lost_at is not None and (resp.created or resp.events):
                    _log.info("etcd watch of %r resumed at revision %d after %.1fs", prefix, last + 1,
                              loop.time() - lost_at)
                    lost_at, backoff = None, 0.05
                for ev in resp.events:
                    event = codec.event(ev)
                    if event is None or event.revision <= last:
                        continue
                    last = event.revision
                    yield event
        except grpc.aio.AioRpcError as exc:
            if conn.closed:
                return
            if exc.code() not in _RESTART_CODES:
                raise conn.error(f"watch of {prefix!r}", exc) from exc
            if lost_at is None:
                lost_at = loop.time()
                _log.warning("etcd watch of %r broke (%s: %s); watching again from revision %d", prefix,
                             exc.code().name, exc.details(), last + 1)
        except _StreamEnded:
            if conn.closed:
                return
            if lost_at is None:
                lost_at = loop.time()
                _log.warning("etcd ended the watch stream of %r; watching again from revision %d", prefix, last + 1)
        except asyncio.CancelledError:
            if _closing(conn):
                return
            raise
        finally:
            call.cancel()
            conn.forget(call)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, _MAX_BACKOFF)
