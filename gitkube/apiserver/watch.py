"""Watch streams: chunked JSON lines of ``{"type": ..., "object": ...}`` events.

Semantics of kube-apiserver (KUBECTL-COMPAT.md §3.2):

- ``resourceVersion`` unset or ``0``: synthetic ADDED events for every matching object,
  then the changes after that state. ``N``: every change after revision N, or an ERROR
  event with a 410 Expired Status when N is older than the retained history.
- Label and field selectors are applied to both the new and the previous object, so an
  object that stops matching arrives as DELETED and one that starts matching as ADDED.
- ``allowWatchBookmarks``: BOOKMARK events carrying the newest revision, so clients can
  resume without a re-list after quiet periods.
- ``timeoutSeconds`` ends the stream; without it a stream lasts 30–60 minutes, as
  kube-apiserver's ``--min-request-timeout`` randomisation does.
- ``sendInitialEvents=true`` (WatchList) is refused with 422 so clients fall back to
  LIST + WATCH.
- With a Table Accept header each event's object is a one-row Table.

Fan-out cost: on a store that offers ``watch_changes`` (the SQLite store), every watcher
reads the same :class:`~gitkube.store.watchhub.Change` records: the object is decoded once
per change for all selective watchers, and the stream line (the stored JSON wrapped in
``{"type":..., "object":...}``) is encoded once per change and event type, whatever the
number of watchers; a watcher without selectors decodes nothing.

Called by ``handlers``; reads from the store through the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from gitkube import errors
from gitkube.api import scheme, selectors
from gitkube.apiserver import registry as reg
from gitkube.apiserver import table
from gitkube.apiserver.requestinfo import RequestInfo
from gitkube.store import base as store_base
from gitkube.store.watchhub import Change, ChangeFeed

__all__ = ["BOOKMARK_INTERVAL", "event_type_for", "filter_event", "serve"]

BOOKMARK_INTERVAL = 5.0


class _Event(Protocol):
    """What the filter reads of a store event: a WatchEvent or a watch-hub Change."""

    @property
    def type(self) -> str: ...
    @property
    def object(self) -> dict[str, Any]: ...
    @property
    def prev_object(self) -> dict[str, Any] | None: ...


_E = TypeVar("_E")


def event_type_for(
    event: _Event, label_sel: selectors.LabelSelector, field_sel: selectors.FieldSelector
) -> str | None:
    """The event type a selective watcher sees for a store event, or None."""
    if label_sel.empty and field_sel.empty:
        return event.type

    def matches(obj: dict[str, Any] | None) -> bool:
        return obj is not None and label_sel.matches_object(obj) and field_sel.matches(obj)

    if event.type == "DELETED":
        return "DELETED" if matches(event.object) else None
    now, before = matches(event.object), matches(event.prev_object)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    if before:
        return "DELETED"
    return None


def filter_event(
    event: _Event, label_sel: selectors.LabelSelector, field_sel: selectors.FieldSelector
) -> tuple[str, dict[str, Any]] | None:
    """The (type, object) a selective watcher sees for a store event, or None."""
    seen = event_type_for(event, label_sel, field_sel)
    return None if seen is None else (seen, event.object)


class _Follower(Generic[_E]):
    """Waits for the next event with a timeout without cancelling the store's generator
    (cancelling ``__anext__`` would close it): the pending step survives a timeout."""

    def __init__(self, it: AsyncIterator[_E]) -> None:
        self._it = it
        self._pending: asyncio.Future[_E] | None = None

    async def next(self, timeout: float) -> _E | None:
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._it.__anext__())
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return None
        fut, self._pending = self._pending, None
        return fut.result()

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending
        with contextlib.suppress(Exception):
            await self._it.aclose()  # type: ignore[attr-defined]


class _FeedFollower:
    """:class:`_Follower` for a cancel-safe :class:`~gitkube.store.watchhub.ChangeFeed`: no
    task per event; a change already buffered is taken without any timer."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed

    async def next(self, timeout: float) -> Change | None:
        if self._feed.ready():
            return await self._feed.__anext__()
        try:
            async with asyncio.timeout(timeout):
                return await self._feed.__anext__()
        except TimeoutError:
            return None

    async def close(self) -> None:
        await self._feed.aclose()


def _parse_timeout(text: str | None) -> float:
    if not text:
        return float(random.randint(1800, 3600))
    try:
        return max(0.0, float(int(text)))
    except ValueError:
        raise errors.BadRequest(f"invalid timeoutSeconds: {text!r}") from None


async def serve(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.StreamResponse:
    q = request.query
    if q.get("sendInitialEvents", "").lower() == "true":
        raise errors.Invalid(
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is not supported by this server",
            causes=[errors.Cause("sendInitialEvents", "Forbidden: sendInitialEvents is not supported by this server", "FieldValueForbidden")],
        )
    label_sel = selectors.parse_label_selector(q.get("labelSelector"))
    field_sel = selectors.parse_field_selector(q.get("fieldSelector"))
    if ri.name:
        field_sel = selectors.FieldSelector(
            field_sel.requirements + (selectors.FieldRequirement("metadata.name", "=", ri.name),)
        )
    timeout = _parse_timeout(q.get("timeoutSeconds"))
    bookmarks = q.get("allowWatchBookmarks", "").lower() == "true"
    as_table = table.wants_table(request.headers.get("Accept"))
    include_object = q.get("includeObject", "Metadata")
    rv_text = q.get("resourceVersion", "")
    prefix = scheme.storage_prefix(ri.info, ri.namespace)

    initial: list[dict[str, Any]] = []
    if rv_text in ("", "0"):
        listed = await registry.list(ri.info, ri.namespace, label_selector=label_sel, field_selector=field_sel)
        initial, since = listed.items, listed.revision
    else:
        try:
            since = int(rv_text)
        except ValueError:
            raise errors.BadRequest(f'invalid resource version "{rv_text}"') from None

    resp = web.StreamResponse(status=200)
    resp.content_type = table.TABLE_CONTENT_TYPE if as_table else "application/json"
    resp.headers["Cache-Control"] = "no-cache, private"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent_columns = False

    async def send(event_type: str, obj: dict[str, Any]) -> None:
        nonlocal sent_columns
        if as_table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            obj = table.to_table(ri.info, [obj], include_object=include_object, no_headers=sent_columns)
            sent_columns = True
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
        await resp.write(line)

    async def send_change(event: store_base.WatchEvent | Change) -> None:
        seen = event_type_for(event, label_sel, field_sel)
        if seen is None:
            return
        if as_table or not isinstance(event, Change):
            await send(seen, event.object)
        else:
            await resp.write(event.line(seen))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_rv = since
    try:
        for obj in initial:
            await send("ADDED", obj)
        stream: _Follower[store_base.WatchEvent] | _FeedFollower | None = None
        try:
            watch_changes = getattr(registry.store, "watch_changes", None)
            if watch_changes is not None:
                stream = _FeedFollower(watch_changes(prefix, since))
            else:
                stream = _Follower(registry.store.watch(prefix, since))
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait = min(remaining, BOOKMARK_INTERVAL) if bookmarks else remaining
                event = await stream.next(wait)
                if event is None:
                    if bookmarks and deadline - loop.time() > 0:
                        last_rv = max(last_rv, await registry.store.current_revision())
                        await send("BOOKMARK", {
                            "kind": ri.info.kind, "apiVersion": ri.info.api_version,
                            "metadata": {"resourceVersion": str(last_rv)},
                        })
                    continue
                last_rv = event.revision
                await send_change(event)
        except StopAsyncIteration:
            pass
        except errors.Gone as exc:
            await send("ERROR", exc.to_status())
        finally:
            if stream is not None:
                await stream.close()
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp
