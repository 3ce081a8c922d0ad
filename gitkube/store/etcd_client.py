"""The etcd connection of :class:`~gitkube.store.etcd.EtcdStore`: URL parsing, one gRPC channel,
deadlines, retries and error mapping.

- :func:`parse_url` reads ``etcd://HOST:PORT[,HOST:PORT...][/prefix]`` (port 2379 by default)
  into an :class:`EtcdAddress`.
- :class:`EtcdConnection` owns one gRPC channel to every endpoint (gRPC's ``pick_first``
  over the addresses: when the member in use goes away the channel moves to the next one) and
  calls etcd's KV and Watch services through the generated stubs of the ``aetcd`` package.
  Every unary call has a deadline (``timeout``) and waits for the channel to be ready within
  it, so an etcd that is restarting or electing a leader is ridden out, and one that is gone
  ends in a :class:`~gitkube.errors.StoreError` naming the endpoints, never a hang. Reads, and
  the store's compare-guarded writes (:meth:`EtcdConnection.guarded_txn`), are sent again
  within the deadline when a connection drops under them (a member died): the guard keeps a
  write from applying twice, and the store tells from what the failed guard read back whether
  the first copy was applied. Other writes are sent again only when etcd answered that it had
  no leader or the channel never connected (the write certainly was not applied).
- :func:`call_error` turns a gRPC error into the gitkube error the API server should see.

Used only by ``gitkube.store.etcd`` and ``gitkube.store.etcd_watch``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from gitkube import errors

__all__ = ["DEFAULT_PORT", "EtcdAddress", "EtcdConnection", "call_error", "parse_url"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_PORT = 2379
_MiB = 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 512 * _MiB),
    ("grpc.max_send_message_length", 64 * _MiB),
    # etcd refuses pings more often than every 5 s and pings without a stream at all
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    # reconnect within a second of etcd coming back (gRPC's default backoff grows to 120 s)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]
_RETRY_PAUSE = 0.05
_RESEND_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class EtcdAddress:
    """Where a store lives: etcd client endpoints (``host:port``) and a key prefix (``""`` or
    ``/name``, never ending in ``/``) put before every key."""

    endpoints: tuple[str, ...]
    prefix: str = ""

    @property
    def display(self) -> str:
        return ",".join(self.endpoints)

    def url(self) -> str:
        return f"etcd://{self.display}{self.prefix}"


def _split_host_port(text: str, url: str) -> tuple[str, int]:
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise errors.ConfigError(f"store URL {url!r}: unterminated IPv6 address in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise errors.ConfigError(f"store URL {url!r}: bad endpoint {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise errors.ConfigError(f"store URL {url!r}: write an IPv6 endpoint as [ADDRESS]:PORT, not {text!r}")
    if not host:
        raise errors.ConfigError(f"store URL {url!r}: an endpoint has no host")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise errors.ConfigError(f"store URL {url!r}: bad port {port_text!r}")
    return host, int(port_text)


def parse_url(url: str) -> EtcdAddress:
    """``etcd://HOST[:PORT][,HOST[:PORT]...][/prefix]`` as an :class:`EtcdAddress`; anything
    else raises ``ConfigError`` naming the value."""
    text = url.strip()
    if text.startswith("etcds://"):
        raise errors.ConfigError(f"store URL {url!r}: TLS to etcd is not supported yet; use etcd:// on a trusted network")
    if not text.startswith("etcd://"):
        raise errors.ConfigError(f"store URL {url!r} is not an etcd:// URL")
    rest = text[len("etcd://") :]
    hosts, slash, path = rest.partition("/")
    if not hosts:
        raise errors.ConfigError(f"store URL {url!r} names no etcd endpoint (etcd://HOST:PORT)")
    endpoints = []
    for part in hosts.split(","):
        host, port = _split_host_port(part.strip(), url)
        endpoints.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    prefix = ("/" + path.strip("/")) if slash and path.strip("/") else ""
    if any(c in prefix for c in "\x00?#"):
        raise errors.ConfigError(f"store URL {url!r}: bad key prefix {prefix!r}")
    return EtcdAddress(tuple(endpoints), prefix)


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _target(address: EtcdAddress) -> str:
    """The gRPC target: the one endpoint as is, or every endpoint resolved to IP literals
    (``ipv4:a:p,b:p``), which gRPC's ``pick_first`` fails over between."""
    if len(address.endpoints) == 1:
        return address.endpoints[0]
    loop = asyncio.get_running_loop()
    resolved: list[tuple[int, str]] = []
    for endpoint in address.endpoints:
        host, _, port = endpoint.rpartition(":")
        ip = _literal(host)
        if ip is None:
            try:
                infos = await loop.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            except OSError as exc:
                raise errors.StoreError(f"etcd endpoint {endpoint}: cannot resolve {host!r}: {exc}") from exc
            ip = ipaddress.ip_address(infos[0][4][0])
        resolved.append((ip.version, f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"))
    versions = {v for v, _ in resolved}
    if len(versions) > 1:
        raise errors.ConfigError(f"etcd endpoints {address.display} mix IPv4 and IPv6 addresses")
    return ("ipv4:" if versions == {4} else "ipv6:") + ",".join(a for _, a in resolved)


def _code(exc: grpc.aio.AioRpcError) -> Any:
    return exc.code()


def call_error(address: EtcdAddress, op: str, exc: BaseException, timeout: float) -> errors.GitkubeError:
    """The gitkube error for a failed etcd call (``op`` is what the store was doing)."""
    where = f"etcd at {address.display}"
    if isinstance(exc, grpc.aio.AioRpcError):
        code, details = _code(exc), exc.details() or ""
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return errors.StoreError(f"{where}: {op}: no answer within {timeout:g}s (etcd down or unreachable?)")
        if code == grpc.StatusCode.UNAVAILABLE:
            return errors.StoreError(f"{where}: {op}: etcd unavailable: {details}")
        if "request is too large" in details:
            return errors.RequestTooLarge(f"{where}: {op}: the object is larger than etcd accepts ({details})")
        if "required revision has been compacted" in details:
            return errors.Gone(f"{where}: {op}: {details}")
        return errors.StoreError(f"{where}: {op} failed: {code.name}: {details}")
    return errors.StoreError(f"{where}: {op} failed: {exc}")


def _not_sent(exc: grpc.aio.AioRpcError) -> bool:
    """True when a failed call certainly did not reach etcd's log (safe to send again)."""
    details = exc.details() or ""
    return "no leader" in details or "failed to connect" in details


class EtcdConnection:
    """One gRPC channel to the etcd cluster at ``address`` (see the module doc)."""

    def __init__(self, address: EtcdAddress, *, timeout: float = 5.0, dial_timeout: float = 5.0) -> None:
        if timeout <= 0 or dial_timeout <= 0:
            raise errors.ConfigError("etcd timeouts must be positive")
        self.address = address
        self.timeout = timeout
        self.dial_timeout = dial_timeout
        self.closed = False
        self._channel: grpc.aio.Channel | None = None
        self.kv: Any = None
        self.watch_stub: Any = None
        self._calls: set[Any] = set()

    async def open(self) -> None:
        """Create the channel and wait (up to ``dial_timeout``) until etcd answers."""
        if self._channel is not None:
            return
        target = await _target(self.address)
        self.closed = False
        self._channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.kv = rpc.KVStub(self._channel)
        self.watch_stub = rpc.WatchStub(self._channel)
        try:
            await self.kv.Range(rpc.RangeRequest(key=b"\x00", count_only=True), timeout=self.dial_timeout,
                                wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            await self.close()
            if _code(exc) == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise errors.StoreError(
                    f"etcd at {self.address.display} is not reachable: no answer within {self.dial_timeout:g}s"
                ) from exc
            raise call_error(self.address, "connect", exc, self.dial_timeout) from exc

    async def close(self) -> None:
        """Cancel every call in flight (watches end) and close the channel; idempotent."""
        self.closed = True
        for call in list(self._calls):
            call.cancel()
        self._calls.clear()
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close(grace=None)

    def require_open(self) -> None:
        if self._channel is None or self.closed:
            raise errors.StoreError(f"etcd store at {self.address.url()} is not open")

    def error(self, op: str, exc: BaseException) -> errors.GitkubeError:
        return call_error(self.address, op, exc, self.timeout)

    async def _call(self, op: str, fn: Callable[..., Awaitable[_T]], request: Any, *,
                    resend: bool) -> tuple[_T, bool]:
        """``fn(request)`` within the deadline, sent again after a dropped connection when
        ``resend`` (else only when it certainly was not applied). Returns the response and
        whether an earlier attempt may have been applied."""
        self.require_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        maybe_applied = False
        while True:
            left = deadline - loop.time()
            # a call that may be sent again gets a part of the deadline per attempt: a proposal
            # lost with a dying leader is then sent again (to the next one) in time
            attempt = min(left, self.timeout / 3) if resend else left
            try:
                return await fn(request, timeout=max(attempt, 0.001), wait_for_ready=True), maybe_applied
            except grpc.aio.AioRpcError as exc:
                if self.closed:
                    raise errors.StoreError(f"etcd store at {self.address.url()} was closed during {op}") from exc
                code = _code(exc)
                if deadline - loop.time() <= _RETRY_PAUSE or code not in _RESEND_CODES:
                    raise self.error(op, exc) from exc
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and not resend:
                    raise self.error(op, exc) from exc
                if not _not_sent(exc):
                    if not resend:
                        raise self.error(op, exc) from exc
                    maybe_applied = True
                _log.debug("etcd %s: sending %s again after %s", self.address.display, op, exc.details())
                await asyncio.sleep(_RETRY_PAUSE)

    async def range(self, op: str, request: Any) -> Any:
        """A Range call (a read: sent again within the deadline when a connection drops)."""
        resp, _ = await self._call(op, self.kv.Range, request, resend=True)
        return resp

    async def txn(self, op: str, request: Any) -> Any:
        """A Txn call that is not sent again once it may have reached etcd."""
        resp, _ = await self._call(op, self.kv.Txn, request, resend=False)
        return resp

    async def guarded_txn(self, op: str, request: Any) -> tuple[Any, bool]:
        """A compare-guarded Txn, sent again when its connection drops (the guard keeps a second
        copy from applying twice). Returns the response and whether an earlier copy may have
        been applied: the caller then tells from what the failed guard read back."""
        return await self._call(op, self.kv.Txn, request, resend=True)

    async def compact(self, revision: int) -> None:
        """Compact etcd's history below ``revision`` (no error if it already is)."""
        try:
            await self._call("compact", self.kv.Compact, rpc.CompactionRequest(revision=revision), resend=True)
        except errors.Gone:
            pass

    def open_watch(self) -> Any:
        """A new bidirectional Watch stream (waits for the channel; no deadline), tracked so
        :meth:`close` ends it."""
        self.require_open()
        call = self.watch_stub.Watch(wait_for_ready=True)
        self._calls.add(call)
        return call

    def forget(self, call: Any) -> None:
        self._calls.discard(call)
