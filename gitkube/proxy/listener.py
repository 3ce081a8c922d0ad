"""One TCP listener of the service proxy: accepts on an address:port and splices each
connection to a backend chosen by a :class:`~gitkube.proxy.balancer.Balancer`.

Forwarding uses asyncio protocols, not streams: each accepted connection is a
:class:`_Pipe` pair (client side, backend side) that writes what one side receives to the
other. Backpressure: when one side's write buffer passes its high-water mark, reading from
the other side pauses until it drains. Half-close: an EOF from one side shuts the write
side of the other, and the pair closes once both directions ended (or either side drops).

A new connection first pauses reading, then tries the balancer's candidates in order
(the sticky or next round-robin backend, then the others) until one connects. With no
ready backend, or when every connect fails, the client connection is reset at once (as
kube-proxy's REJECT rule refuses connections to a Service without endpoints).

:meth:`Listener.close` stops accepting; established connections keep running until they
end (an endpoint change never cuts them). :meth:`Listener.abort` also drops them. Used by
:mod:`gitkube.proxy.proxy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import cast

from gitkube.proxy.balancer import Backend, Balancer

__all__ = ["Listener"]

log = logging.getLogger(__name__)

_BACKLOG = 1024


def _open(transport: asyncio.Transport | None) -> asyncio.Transport | None:
    """The transport if it can still be used (uvloop raises on any call to a closed one)."""
    return transport if transport is not None and not transport.is_closing() else None


class _Pipe(asyncio.Protocol):
    """One side of a proxied connection; ``peer`` is the other side once both are up."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.eof = False
        self.lost = False
        # Bytes that arrived before the other side was joined: uvloop does not honour
        # pause_reading() inside connection_made for outgoing connections.
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.pause_reading()  # until spliced: nothing may arrive before there is a peer

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            self.early.append(data)
            return
        transport = _open(peer.transport)
        if transport is not None:
            transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None:
            return True  # forwarded when the pipe is joined
        transport = _open(peer.transport) if peer is not None and not peer.lost else None
        if peer is None or transport is None:
            return False
        if transport.can_write_eof():
            transport.write_eof()
        if peer.eof:
            transport.close()
            return False
        return True  # keep our write side open: the other direction may still flow

    def pause_writing(self) -> None:
        transport = _open(self.peer.transport) if self.peer is not None else None
        if transport is not None:
            transport.pause_reading()

    def resume_writing(self) -> None:
        transport = _open(self.peer.transport) if self.peer is not None and not self.peer.eof else None
        if transport is not None:
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        peer = self.peer
        transport = _open(peer.transport) if peer is not None and not peer.lost else None
        if transport is not None:
            transport.close()  # flushes what is buffered, then closes


class _ClientSide(_Pipe):
    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self.listener = listener
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.listener.connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self.listener.connect(self))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.listener.connections.discard(self)
        if self.peer is None and self.task is not None:
            self.task.cancel()

    def reset(self) -> None:
        """Drop the client connection with a TCP RST (connection refused, as REJECT)."""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class Listener:
    """A TCP server on ``host:port`` forwarding to the backends of ``balancer``."""

    def __init__(self, host: str, port: int, balancer: Balancer, *, name: str = "",
                 connect_timeout: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.balancer = balancer
        self.name = name or f"{host}:{port}"
        self.connect_timeout = connect_timeout
        self.connections: set[_ClientSide] = set()
        self.accepted = 0
        self._server: asyncio.Server | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def bound_port(self) -> int:
        """The port actually bound (differs from ``port`` when that was 0)."""
        if self._server is None or not self._server.sockets:
            return self.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and listen; raises ``OSError`` when the address cannot be bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), self.host, self.port,
                                                reuse_address=True, backlog=_BACKLOG)

    def close(self) -> None:
        """Stop accepting; established connections run on until they end."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def abort(self) -> None:
        """Stop accepting and drop every connection (shutdown)."""
        self.close()
        for conn in list(self.connections):
            if conn.peer is not None and conn.peer.transport is not None:
                conn.peer.transport.abort()
            if conn.transport is not None:
                conn.transport.abort()
        self.connections.clear()

    async def connect(self, client: _ClientSide) -> None:
        """Connect ``client`` to a backend, trying each ready one in turn."""
        self.accepted += 1
        transport = client.transport
        assert transport is not None
        peername = transport.get_extra_info("peername")
        client_ip = str(peername[0]) if peername else ""
        loop = asyncio.get_running_loop()
        for backend in self.balancer.candidates(client_ip):
            try:
                _, upstream = await asyncio.wait_for(loop.create_connection(_Pipe, backend.ip, backend.port),
                                                     self.connect_timeout)
            except (TimeoutError, OSError) as exc:
                log.info("proxy %s: connect to %s failed: %s", self.name, backend, exc)
                continue
            if client.lost:
                if upstream.transport is not None:
                    upstream.transport.close()
                return
            self._splice(client, upstream, backend, client_ip)
            return
        log.debug("proxy %s: no ready endpoint for %s", self.name, client_ip)
        client.reset()

    def _splice(self, client: _ClientSide, upstream: _Pipe, backend: Backend, client_ip: str) -> None:
        assert client.transport is not None and upstream.transport is not None
        client.peer, upstream.peer = upstream, client
        if upstream.lost:  # the backend hung up before we got here
            client.transport.close()
            return
        self.balancer.record(client_ip, backend)
        with contextlib.suppress(OSError):
            sock = upstream.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_t, upstream_t = _open(client.transport), _open(upstream.transport)
        if client_t is None or upstream_t is None:  # one side went away while connecting
            for t in (client_t, upstream_t):
                if t is not None:
                    t.close()
            return
        for side, other_t in ((client, upstream_t), (upstream, client_t)):
            for chunk in side.early:
                other_t.write(chunk)
            side.early.clear()
        for side, other in ((client, upstream), (upstream, client)):
            if side.eof:
                eof_t = _open(other.transport)
                if eof_t is not None and eof_t.can_write_eof():
                    eof_t.write_eof()
        if client.eof and upstream.eof:
            client_t.close()
            upstream_t.close()
            return
        client_t.resume_reading()
        upstream_t.resume_reading()
