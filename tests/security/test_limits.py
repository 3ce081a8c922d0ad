"""Request limits: big bodies, nesting bombs, and one client trying to exhaust the daemon.

- a 100 MB body (with a Content-Length, and chunked without one) is refused with 413 within a
  second or two, and the daemon's RSS does not grow by anything like the body;
- JSON and YAML nesting bombs and a YAML alias bomb are 400s, and the daemon keeps serving;
- per-client budgets (``gitkube.apiserver.limits``): one client address opening more connections,
  watches or requests in flight than its budget gets 429 with Retry-After, while another client
  address is still served. Loopback lets a test pick its source address (127.0.0.x), so each
  "client" here is a real distinct remote address. The real daemon is tested at its default
  budgets; an in-process server with tiny budgets covers requests in flight and shows that the
  Unix socket of the daemon's own components is not limited.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from gitkube.apiserver import limits, pki
from gitkube.apiserver.server import APIServer
from gitkube.client import Client, HTTPTransport
from gitkube.store import SqliteStore
from tests.security.conftest import Sec

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
CM_PATH = "/api/v1/namespaces/default/configmaps"


def _rss(sec: Sec) -> int:
    return int(psutil.Process(sec.daemon.proc.pid).memory_info().rss)


def _tls(sec: Sec, source: str = "127.0.0.1") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", sec.daemon.port), timeout=10, source_address=(source, 0))
    return sec.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")


def _try_recv(sock: ssl.SSLSocket) -> bytes | None:
    """Application data if any has arrived (TLS 1.3 session tickets make the socket readable
    without any), b"" on EOF, None when there is nothing yet."""
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return None


def _send_big(sec: Sec, chunked: bool, token: str | None, total: int = 100 * MB) -> tuple[bytes, float, int]:
    """Stream ``total`` bytes of body; stop as soon as the server answers. Returns (answer, seconds, sent)."""
    sock = _tls(sec)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    length = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n"
    head = f"POST {CM_PATH} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n{length}\r\n"
    block = b"[" * (256 * 1024)
    piece = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
    start = time.monotonic()
    sent = 0
    answer = b""
    try:
        sock.sendall(head.encode())
        sock.setblocking(False)
        while sent < total and not answer:
            view = memoryview(piece)
            while view and not answer:
                got = _try_recv(sock)
                if got is not None:
                    answer = got or b"(closed)"
                    break
                try:
                    view = view[sock.send(view):]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    select.select([sock], [sock], [], 0.05)
            if not view:
                sent += len(block)
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer and answer != b"(closed)":
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    finally:
        sock.close()
    return answer, time.monotonic() - start, sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_100mb_body_is_refused_quickly_without_memory_growth(sec: Sec, chunked: bool,
                                                               record_property: pytest.RecordProperty) -> None:
    before = _rss(sec)
    answer, seconds, sent = _send_big(sec, chunked, sec.admin_token)
    after = _rss(sec)
    record_property("rss_before_mb", round(before / MB, 1))
    record_property("rss_after_mb", round(after / MB, 1))
    record_property("seconds_to_413", round(seconds, 3))
    print(f"100 MB body ({'chunked' if chunked else 'content-length'}): {answer.split(b' ', 2)[1:2]} after "
          f"{seconds:.3f}s, {sent / MB:.0f} MB sent; RSS {before / MB:.1f} -> {after / MB:.1f} MB")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert seconds < 5, seconds
    assert sent < 50 * MB, f"the server read {sent / MB:.0f} MB before answering"
    assert after - before < 30 * MB, f"RSS grew {(after - before) / MB:.1f} MB"
    assert sec.request("GET", "/readyz").status == 200


def test_a_big_body_without_a_token_is_401_before_reading(sec: Sec) -> None:
    answer, seconds, sent = _send_big(sec, False, None)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert seconds < 5 and sent < 50 * MB


def _alias_bomb() -> bytes:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines).encode()


BOMBS = {
    "deep-json": ("application/json", b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
    "deep-json-object": ("application/json", b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d",'
                         b'"annotations":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}}"),
    "deep-yaml-flow": ("application/yaml", b"a: " + b"[" * 200_000 + b"]" * 200_000),
    "deep-yaml-block": ("application/yaml", b"a:\n" + b"- " * 200_000 + b"x\n"),
    "alias-bomb": ("application/yaml", _alias_bomb()),
}


@pytest.mark.parametrize("bomb", list(BOMBS))
@pytest.mark.parametrize("how", ["create", "apply"])
def test_nesting_and_alias_bombs_are_400(sec: Sec, bomb: str, how: str) -> None:
    content_type, body = BOMBS[bomb]
    start = time.monotonic()
    if how == "create":
        reply = sec.request("POST", CM_PATH, sec.admin_token, body, content_type=content_type)
    else:
        reply = sec.request("PATCH", CM_PATH + "/bomb?fieldManager=sec", sec.admin_token, body,
                            content_type="application/apply-patch+yaml")
    assert reply.status == 400, (reply.status, reply.body[:300])
    status = reply.json()
    assert status["kind"] == "Status" and status["message"] and "Traceback" not in status["message"]
    assert time.monotonic() - start < 10
    assert sec.request("GET", "/readyz").status == 200
    assert sec.request("GET", CM_PATH + "/bomb", sec.admin_token).status == 404


# -- per-client budgets on the real daemon (defaults) -------------------------------------------

def _first_line(sock: ssl.SSLSocket, token: str, path: str = "/api/v1/namespaces/default") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_too_many_connections_from_one_client(sec: Sec) -> None:
    budget = limits.ClientLimits().max_connections
    flood: list[ssl.SSLSocket] = []
    try:
        for _ in range(budget):
            flood.append(_tls(sec, "127.0.0.77"))
        assert _first_line(flood[0], sec.admin_token).startswith(b"HTTP/1.1 200")  # inside the budget: served
        extra = _tls(sec, "127.0.0.77")
        flood.append(extra)
        line = _first_line(extra, sec.admin_token)
        assert line.startswith(b"HTTP/1.1 429"), line
        # another client is unaffected
        other = _tls(sec, "127.0.0.78")
        flood.append(other)
        assert _first_line(other, sec.admin_token).startswith(b"HTTP/1.1 200")
        assert sec.request("GET", "/api/v1/namespaces", sec.readonly_token).status == 200
    finally:
        for s in flood:
            s.close()

    def served_again() -> bool:
        with _tls(sec, "127.0.0.77") as again:
            return _first_line(again, sec.admin_token).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while not served_again():
        assert time.monotonic() < deadline, "the client was not served again after closing its connections"
        time.sleep(0.1)


async def _watches(sec: Sec, source: str, count: int) -> tuple[list[aiohttp.ClientResponse], aiohttp.ClientSession]:
    conn = aiohttp.TCPConnector(ssl=sec.ssl_context(), limit=0, local_addr=(source, 0))
    session = aiohttp.ClientSession(sec.daemon.url, connector=conn,
                                    headers={"Authorization": f"Bearer {sec.admin_token}"})
    path = "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=60"
    responses = await asyncio.gather(*(session.get(path, timeout=aiohttp.ClientTimeout(total=None))
                                       for _ in range(count)))
    return list(responses), session


def test_too_many_watches_from_one_client(sec: Sec) -> None:
    budget = limits.ClientLimits().max_watches

    async def run() -> None:
        before = _rss(sec)
        opened, session = await _watches(sec, "127.0.0.79", budget)
        try:
            assert all(r.status == 200 for r in opened), {r.status for r in opened}
            print(f"{budget} watches of one client: daemon RSS {before / MB:.1f} -> {_rss(sec) / MB:.1f} MB")
            more = await session.get("/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=5")
            assert more.status == 429, more.status
            assert more.headers.get("Retry-After") == "1"
            status = await more.json()
            assert status["reason"] == "TooManyRequests" and status["code"] == 429
            other, other_session = await _watches(sec, "127.0.0.80", 1)
            assert other[0].status == 200
            other[0].close()
            await other_session.close()
        finally:
            for r in opened:
                r.close()
            await session.close()

    asyncio.run(run())
    assert sec.request("GET", "/readyz").status == 200


# -- tiny budgets on an in-process server --------------------------------------------------------

async def _server(tmp: Path, budget: limits.ClientLimits) -> APIServer:
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    creds = pki.ensure_credentials(tmp)
    server = APIServer(SqliteStore(tmp / "state.db"), creds, tmp, port=0, limits=budget)
    await server.start()
    return server


async def _slow_post(url: str, token: str, ctx: ssl.SSLContext, source: str, release: asyncio.Event) -> int:
    """A create whose body trickles in until ``release``: in flight the whole time."""
    async def body() -> AsyncIterator[bytes]:
        yield b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"slow-"}'
        await release.wait()
        yield b"}"
    conn = aiohttp.TCPConnector(ssl=ctx, local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=conn) as session:
        async with session.post(url + CM_PATH, data=body(), headers={"Authorization": f"Bearer {token}",
                                                                     "Content-Type": "application/json"}) as r:
            return r.status


def test_requests_in_flight_budget_and_the_unix_socket_is_exempt(tmp_path: Path) -> None:
    budget = limits.ClientLimits(max_connections=10, max_inflight=2, max_watches=1)

    async def run() -> None:
        server = await _server(tmp_path / "data", budget)
        ctx = ssl.create_default_context(cafile=str(server.creds.ca_cert))
        token = server.creds.admin_token
        try:
            release = asyncio.Event()
            slow = [asyncio.create_task(_slow_post(server.url, token, ctx, "127.0.0.81", release)) for _ in range(2)]
            deadline = time.monotonic() + 10
            while server.limiter.inflight.get("127.0.0.81", 0) < 2:
                assert time.monotonic() < deadline, server.limiter.stats()
                await asyncio.sleep(0.02)
            conn = aiohttp.TCPConnector(ssl=ctx, local_addr=("127.0.0.81", 0))
            async with aiohttp.ClientSession(connector=conn) as session:
                async with session.get(server.url + CM_PATH, headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 429 and r.headers["Retry-After"] == "1"
            conn = aiohttp.TCPConnector(ssl=ctx, local_addr=("127.0.0.82", 0))
            async with aiohttp.ClientSession(connector=conn) as session:
                async with session.get(server.url + CM_PATH, headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200
            release.set()
            assert await asyncio.gather(*slow) == [201, 201]
            assert server.limiter.stats()["inflight"] == 0
            # the daemon's own components talk over the Unix socket: no budget applies
            client = Client(HTTPTransport(server.socket_url, token, user_agent="test"), field_manager="test")
            try:
                streams = [client.watch("configmaps", "default") for _ in range(5)]
                firsts = [asyncio.ensure_future(s.__anext__()) for s in streams]
                await client.create("configmaps", {"metadata": {"name": "seen"}}, "default")
                events = await asyncio.wait_for(asyncio.gather(*firsts), 10)
                assert len(events) == 5
                for s in streams:
                    await s.aclose()
            finally:
                await client.close()
        finally:
            await server.stop()

    asyncio.run(run())
