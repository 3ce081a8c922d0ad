"""Per-client limits on the HTTPS port, so one client cannot exhaust the daemon.

A client is a remote IP address. Three budgets, each configurable in :class:`ClientLimits`:

- open connections (``max_connections``): a connection beyond the budget is accepted, answers its
  first request with 429 and ``Connection: close``, and is dropped if it sends nothing within
  ``reject_grace`` seconds, so idle sockets cannot pile up either;
- requests in flight (``max_inflight``), as kube-apiserver's ``--max-requests-inflight`` but per
  client: short requests (get, list, create, update, patch, delete) running at once;
- long-running requests (``max_watches``): watches, ``logs -f``, the engine's progress streams, git
  transfers and the dashboard's live streams, as kube-apiserver's long-running request check
  classifies them.

Over a budget the answer is Kubernetes' ``429 TooManyRequests`` Status with ``Retry-After``, which
kubectl, client-go and the kubernetes Python client retry. The defaults are far above what kubectl,
the Python client, node agents or a browser open. The daemon's own components (controllers,
scheduler, node agent, proxy, engine) use the Unix socket, which has no remote address and is not
limited.

Used by ``server``: :class:`LimitedTCPSite` wraps the protocol of every TCP connection and
:meth:`ClientLimiter.middleware` guards every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from gitkube import errors
from gitkube.apiserver import codec

__all__ = ["ClientLimiter", "ClientLimits", "LimitedTCPSite", "TooManyRequests", "client_key", "is_long_running"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Any]


class TooManyRequests(errors.APIError):
    """429: a client went over one of its budgets; ``retry_after`` says when to try again."""

    code: ClassVar[int] = 429
    reason: ClassVar[str] = "TooManyRequests"


@dataclass(frozen=True)
class ClientLimits:
    """Budgets per client address (0 disables a budget)."""

    max_connections: int = 512
    max_inflight: int = 400
    max_watches: int = 500
    retry_after: int = 1
    reject_grace: float = 10.0


def client_key(transport: asyncio.BaseTransport | None) -> str | None:
    """The remote IP address of a TCP connection; None for the Unix socket (not limited)."""
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


_LONG_RUNNING_PREFIXES = ("/gitkube/v1/follow", "/gitkube/v1/rollback", "/git/", "/ui/live/")


def is_long_running(request: web.Request) -> bool:
    """A watch, a followed log or an engine/git stream: counted as a watch, not as a request."""
    q = request.query
    if q.get("watch", "").lower() in ("1", "true") or "/watch/" in request.path:
        return True
    if request.path.endswith("/log") and q.get("follow", "").lower() in ("1", "true"):
        return True
    return request.path.startswith(_LONG_RUNNING_PREFIXES)


class _Counted(asyncio.Protocol):
    """Wraps the HTTP protocol of one connection and tells the limiter when it opens and closes."""

    def __init__(self, inner: asyncio.Protocol, limiter: ClientLimiter) -> None:
        self._inner = inner
        self._limiter = limiter
        self._transport: asyncio.BaseTransport | None = None
        self._key: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._key = client_key(transport)  # read now: gone from the transport once it is lost
        self._limiter.opened(self._key, transport)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._limiter.closed(self._key, self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class ClientLimiter:
    """Counts connections, requests in flight and long-running requests per client address."""

    def __init__(self, limits: ClientLimits | None = None) -> None:
        self.limits = limits or ClientLimits()
        self.connections: Counter[str] = Counter()
        self.inflight: Counter[str] = Counter()
        self.watches: Counter[str] = Counter()
        self.rejected_total = 0
        self._over: dict[int, asyncio.TimerHandle | None] = {}

    # -- connections -------------------------------------------------------------------------

    def protocol_factory(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Counted(factory(), self)

    def opened(self, key: str | None, transport: asyncio.BaseTransport) -> None:
        if key is None:
            return
        self.connections[key] += 1
        limit = self.limits.max_connections
        if limit and self.connections[key] > limit:
            loop = asyncio.get_running_loop()
            self._over[id(transport)] = loop.call_later(self.limits.reject_grace, transport.close)

    def closed(self, key: str | None, transport: asyncio.BaseTransport) -> None:
        if key is None:
            return
        self.connections[key] -= 1
        if self.connections[key] <= 0:
            del self.connections[key]
        timer = self._over.pop(id(transport), None)
        if timer is not None:
            timer.cancel()

    # -- requests ----------------------------------------------------------------------------

    def _refuse(self, key: str, what: str, limit: int) -> TooManyRequests:
        self.rejected_total += 1
        log.warning("client %s is over its budget of %d %s: answering 429", key, limit, what)
        return TooManyRequests(f"Too many requests, please try again later: client {key} has {limit} {what} open, "
                               f"the most one client may have", retry_after=self.limits.retry_after)

    @contextlib.contextmanager
    def _slot(self, key: str, counter: Counter[str], limit: int, what: str) -> Iterator[None]:
        if limit and counter[key] >= limit:
            raise self._refuse(key, what, limit)
        counter[key] += 1
        try:
            yield
        finally:
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 429 (through the server's error middleware) when the client is over a budget."""
        key = client_key(request.transport)
        if key is None:
            response: web.StreamResponse = await handler(request)
            return response
        if request.transport is not None and id(request.transport) in self._over:
            response = codec.status_response(self._refuse(key, "connections", self.limits.max_connections))
            response.force_close()
            return response
        if is_long_running(request):
            with self._slot(key, self.watches, self.limits.max_watches, "watches and streams"):
                response = await handler(request)
        else:
            with self._slot(key, self.inflight, self.limits.max_inflight, "requests in flight"):
                response = await handler(request)
        return response

    def stats(self) -> dict[str, int]:
        """Totals for metrics and tests."""
        return {"connections": sum(self.connections.values()), "inflight": sum(self.inflight.values()),
                "watches": sum(self.watches.values()), "rejected": self.rejected_total}


class LimitedTCPSite(web.TCPSite):
    """``web.TCPSite`` whose connections are counted by a :class:`ClientLimiter`."""

    __slots__ = ("_limiter",)

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, limiter: ClientLimiter,
                 **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._limiter = limiter

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            self._limiter.protocol_factory(server), self._host, self._port, ssl=self._ssl_context,
            backlog=self._backlog, reuse_address=self._reuse_address, reuse_port=self._reuse_port,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
