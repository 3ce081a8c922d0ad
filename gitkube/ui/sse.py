"""Server-sent events for the dashboard: the live half of every page.

The browser connects with htmx's SSE extension (``sse-connect``) and each message's ``event:``
name picks the element it replaces or appends to (``sse-swap``). Three kinds of stream:

- :func:`stream_partial`: re-render one partial whenever the cluster cache changes (the API's
  watches, through :class:`gitkube.ui.cache.ClusterCache`), at most every ``min_interval``, and
  send it only when the HTML differs from the last one sent; a slow tick re-renders anyway for
  what changes without an object changing (the engine's message).
- :func:`stream_lines`: one message per line of a streamed source (pod logs, sync progress),
  appended by the page; ``done`` at the end so the page closes the stream (``sse-close``)
  rather than have the browser reconnect and replay it.

Called by ``gitkube.ui.server``; the streams end when the browser goes away (a write fails) or
the daemon stops (handler cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from gitkube import errors

from .cache import ClusterCache

__all__ = ["KEEPALIVE", "format_event", "open_stream", "stream_lines", "stream_partial"]

log = logging.getLogger(__name__)
KEEPALIVE = 15.0
_GONE = (ConnectionResetError, ConnectionError, RuntimeError)


def format_event(name: str, data: str) -> bytes:
    """One SSE message; every line of ``data`` gets its own ``data:`` field."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "".join(f"data: {line}\n" for line in lines)
    return f"event: {name}\n{body}\n".encode()


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    return response


async def stream_partial(request: web.Request, cache: ClusterCache, name: str, render: Callable[[], Awaitable[str]],
                         *, min_interval: float = 0.25, tick: float = KEEPALIVE) -> web.StreamResponse:
    response = await open_stream(request)
    last = ""
    try:
        while True:
            seen = cache.version
            try:
                html = await render()
            except errors.GitkubeError as exc:
                log.warning("dashboard %s: %s", name, exc)
                html = f'<p class="error">cannot read the cluster: {_escape(str(exc))}</p>'
            if html != last:
                await response.write(format_event(name, html))
                last = html
            else:
                await response.write(b": keepalive\n\n")  # also how a closed tab is noticed
            await cache.wait_change(seen, tick)
            await asyncio.sleep(min_interval)  # coalesce a burst of watch events into one render
    except _GONE:
        pass
    return response


async def stream_lines(request: web.Request, lines: AsyncIterator[str], name: str,
                       done: Callable[[], str] | None = None) -> web.StreamResponse:
    """Each item of ``lines`` (already HTML) as one ``name`` message, then ``done`` when they end."""
    response = await open_stream(request)
    iterator = aiter(lines)
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            finished, _ = await asyncio.wait({pending}, timeout=KEEPALIVE)
            if not finished:  # nothing new: keep the connection (and notice a closed tab)
                await response.write(b": keepalive\n\n")
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                break
            await response.write(format_event(name, item))
        await response.write(format_event("done", done() if done else ""))
    except _GONE:
        pass
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        closer = getattr(iterator, "aclose", None)
        if closer is not None:  # end the upstream stream (a pod log follow) now, not at GC
            with contextlib.suppress(Exception):
                await closer()
    return response


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
