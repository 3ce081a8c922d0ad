"""Forwarding one HTTP request (or websocket) from the Ingress listener to a backend pod.

:class:`Forwarder` is the aiohttp request handler of the Ingress proxy's listeners. It asks
its ``lookup`` callback where ``Host`` + path go (a :class:`Target`), then:

- no route: 404; a route whose Service is missing or has no ready endpoints: 503; every
  ready endpoint refusing the connection: 502; no response headers within the read timeout:
  504 (the statuses ingress-nginx answers with);
- otherwise the request goes to the balancer's next ready endpoint (the others are tried in
  turn when a connect fails) through one shared aiohttp ``ClientSession`` with keep-alive
  connections. Method, path and query (byte for byte), headers and the ``Host`` header pass
  through; hop-by-hop headers (RFC 9110 §7.6.1 and those named in ``Connection``) are
  dropped; ``X-Forwarded-For`` is appended to, ``X-Forwarded-Proto``/``Host``/``Port`` and
  ``X-Real-IP`` are set. Bodies stream both ways chunk by chunk (never buffered whole);
  content encodings pass through untouched;
- a websocket upgrade connects to the backend first (502 when it refuses), then relays
  messages both ways until either side closes, passing the close code on.

Used by :mod:`gitkube.proxy.ingress.proxy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gitkube.proxy.balancer import Backend, Balancer
from gitkube.proxy.ingress.routing import normalize_host

__all__ = ["Forwarder", "Target"]

log = logging.getLogger(__name__)

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                         "te", "trailer", "transfer-encoding", "upgrade"})
_WS_HANDSHAKE = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                           "sec-websocket-protocol", "sec-websocket-accept"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Target:
    """Where a request goes: a balancer, or an error status with its reason."""

    balancer: Balancer | None = None
    status: int = 0
    message: str = ""


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=f"{status} {message}\n", headers={"Cache-Control": "no-store"})


def _strip_hop_by_hop(headers: CIMultiDict[str]) -> None:
    named = {t.strip().lower() for v in headers.getall("Connection", []) for t in v.split(",")}
    for name in list(headers.keys()):
        if name.lower() in _HOP_BY_HOP or name.lower() in named:
            headers.popall(name, None)


def _url(backend: Backend, request: web.BaseRequest, scheme: str) -> URL:
    host = f"[{backend.ip}]" if ":" in backend.ip else backend.ip
    target = request.raw_path  # byte for byte; an absolute-form target ("GET http://h/p") is made relative
    if not target.startswith("/"):
        target = request.rel_url.raw_path_qs or "/"
    return URL(f"{scheme}://{host}:{backend.port}{target}", encoded=True)


class Forwarder:
    """The HTTP handler of the Ingress listeners; ``lookup(host, path)`` routes each request."""

    def __init__(self, lookup: Callable[[str, str], Target], *, connect_timeout: float = 5.0,
                 read_timeout: float = 60.0) -> None:
        self.lookup = lookup
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- request --------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        host = normalize_host(request.headers.get("Host", ""))
        target = self.lookup(host, request.path)
        if target.balancer is None:
            return _error(target.status or 404, target.message or "Not Found")
        peer = request.remote or ""
        candidates = target.balancer.candidates(peer)
        if not candidates:
            return _error(503, target.message or "Service Unavailable: no ready endpoints")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, candidates, target.balancer)
        return await self._http(request, candidates, target.balancer)

    def _headers(self, request: web.BaseRequest) -> CIMultiDict[str]:
        headers = CIMultiDict(request.headers)
        _strip_hop_by_hop(headers)
        peer = request.remote or ""
        previous = ", ".join(headers.getall("X-Forwarded-For", []))
        headers.popall("X-Forwarded-For", None)
        headers["X-Forwarded-For"] = f"{previous}, {peer}" if previous else peer
        headers["X-Real-IP"] = peer
        headers["X-Forwarded-Proto"] = "https" if request.secure else "http"
        headers["X-Forwarded-Host"] = request.headers.get("Host", "")
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        if sockname:
            headers["X-Forwarded-Port"] = str(sockname[1])
        return headers

    async def _http(self, request: web.BaseRequest, candidates: list[Backend],
                    balancer: Balancer) -> web.StreamResponse:
        assert self._session is not None
        headers = self._headers(request)
        has_body = request.body_exists
        if headers.popall("Expect", None) and has_body and request.version >= aiohttp.HttpVersion11:
            # The client waits for this before sending the body (as aiohttp's router would answer it).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if has_body and "Content-Length" not in headers:
            headers.popall("Content-Length", None)  # chunked in, chunked out
        retry_disconnect = request.method in _IDEMPOTENT and not has_body
        last = "no backend answered"
        for backend in candidates:
            body: AsyncIterator[bytes] | None = request.content.iter_chunked(_CHUNK) if has_body else None
            try:
                upstream = await self._session.request(
                    request.method, _url(backend, request, "http"), headers=headers, data=body,
                    allow_redirects=False, compress=None, chunked=None)
            except aiohttp.ClientConnectorError as exc:
                last = f"connect to {backend} failed: {exc.os_error.strerror or exc}"
                log.info("ingress: %s %s: %s", request.method, request.path, last)
                continue
            except aiohttp.ServerDisconnectedError as exc:
                last = f"{backend} closed the connection: {exc}"
                if retry_disconnect:
                    continue
                return _error(502, f"Bad Gateway: {last}")
            except TimeoutError:
                return _error(504, f"Gateway Timeout: {backend} did not answer in {self.read_timeout:g}s")
            except aiohttp.ClientError as exc:
                return _error(502, f"Bad Gateway: {backend}: {exc}")
            balancer.record(request.remote or "", backend)
            try:
                return await self._relay(request, upstream)
            finally:
                upstream.release()
        return _error(502, f"Bad Gateway: {last}")

    async def _relay(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        headers = CIMultiDict(upstream.headers)
        _strip_hop_by_hop(headers)
        response.headers.extend(headers)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Headers are gone already: the only honest signal left is cutting the connection.
            log.info("ingress: %s %s: upstream broke off: %s", request.method, request.path, exc)
            if request.transport is not None:
                request.transport.abort()
            response.force_close()
            return response
        await response.write_eof()
        return response

    # -- websocket ------------------------------------------------------------------------

    async def _websocket(self, request: web.BaseRequest, candidates: list[Backend],
                         balancer: Balancer) -> web.StreamResponse:
        assert self._session is not None
        headers = self._headers(request)
        for name in list(headers.keys()):
            if name.lower() in _WS_HANDSHAKE:
                headers.popall(name, None)
        protocols = [p.strip() for v in request.headers.getall("Sec-WebSocket-Protocol", []) for p in v.split(",")
                     if p.strip()]
        last = "no backend answered"
        for backend in candidates:
            try:
                upstream = await self._session.ws_connect(_url(backend, request, "ws"), headers=headers,
                                                          protocols=protocols, autoping=False, max_msg_size=0)
            except aiohttp.ClientConnectorError as exc:
                last = f"connect to {backend} failed: {exc.os_error.strerror or exc}"
                continue
            except aiohttp.WSServerHandshakeError as exc:
                return _error(exc.status if exc.status >= 400 else 502, f"Bad Gateway: {exc.message}")
            except aiohttp.ClientError as exc:
                return _error(502, f"Bad Gateway: {backend}: {exc}")
            balancer.record(request.remote or "", backend)
            client = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (),
                                           autoping=False, max_msg_size=0)
            await client.prepare(request)
            try:
                await _splice(client, upstream)
            finally:
                await upstream.close()
                await client.close()
            return client
        return _error(502, f"Bad Gateway: {last}")


async def _pump(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type == aiohttp.WSMsgType.PING:
            await sink.ping(message.data)
        elif message.type == aiohttp.WSMsgType.PONG:
            await sink.pong(message.data)
    code = source.close_code or aiohttp.WSCloseCode.OK
    await sink.close(code=code)


async def _splice(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    tasks = [asyncio.create_task(_pump(client, upstream)), asyncio.create_task(_pump(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
