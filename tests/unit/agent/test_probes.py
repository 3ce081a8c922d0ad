"""Probe checks against real sockets, and the prober's thresholds."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from gitkube.agent import probes
from gitkube.testing.runtime import FakeBehaviour, FakeRuntime, container_spec

CONTAINER = {"name": "app", "ports": [{"name": "http", "containerPort": 0}]}


async def _http_server(status: int, seen: list[bytes]):
    async def handle(reader, writer):
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize(("status", "ok"), [(200, True), (302, True), (399, True), (404, False), (500, False)])
async def test_http_get_status_ranges(status, ok):
    seen: list[bytes] = []
    server, port = await _http_server(status, seen)
    async with server:
        c = {"name": "app", "ports": [{"name": "http", "containerPort": port}]}
        handler = {"httpGet": {"path": "/healthz", "port": "http", "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}
        result = await probes.check(handler, container=c, pod_ip="127.0.0.1", process=None, timeout=2)
    assert result.success is ok
    if not ok:
        assert result.message == f"HTTP probe failed with statuscode: {status}"
    request = seen[0].decode()
    assert request.startswith("GET /healthz HTTP/1.1")
    assert "X-Probe: 1" in request and "kube-probe/1.32" in request


async def test_http_get_connection_refused_message():
    port = _closed_port()
    result = await probes.check({"httpGet": {"path": "/", "port": port}}, container=CONTAINER, pod_ip="127.0.0.1",
                                process=None, timeout=1)
    assert not result.success
    assert result.message == f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused'


async def test_tcp_socket_open_and_closed():
    server, port = await _http_server(200, [])
    async with server:
        ok = await probes.check({"tcpSocket": {"port": port}}, container=CONTAINER, pod_ip="127.0.0.1", process=None, timeout=1)
    assert ok.success
    closed = _closed_port()
    bad = await probes.check({"tcpSocket": {"port": closed}}, container=CONTAINER, pod_ip="127.0.0.1", process=None, timeout=1)
    assert not bad.success and bad.message == f"dial tcp 127.0.0.1:{closed}: connect: connection refused"


async def test_exec_and_grpc(tmp_path):
    rt = FakeRuntime()
    rt.behave("app", FakeBehaviour(exec_results={"ok": (0, b"fine"), "bad": (2, b"broken\n")}))
    process = await rt.start(container_spec(tmp_path, ["sleep", "1"]))
    good = await probes.check({"exec": {"command": ["ok"]}}, container=CONTAINER, pod_ip="", process=process, timeout=1)
    bad = await probes.check({"exec": {"command": ["bad"]}}, container=CONTAINER, pod_ip="", process=process, timeout=1)
    assert good.success and not bad.success and bad.message == "broken\n"
    assert process.exec_calls == [["ok"], ["bad"]]
    grpc = await probes.check({"grpc": {"port": 1}}, container=CONTAINER, pod_ip="", process=None, timeout=1)
    assert not grpc.success and "not supported" in grpc.message


def test_named_port_lookup():
    assert probes.resolve_port("http", {"ports": [{"name": "http", "containerPort": 8080}]}) == 8080
    assert probes.resolve_port(81, {}) == 81
    with pytest.raises(ValueError):
        probes.resolve_port("nope", {"name": "app"})


def _worker(kind, probe, outcomes):
    changes: list[bool] = []
    failures: list[str] = []
    results = iter(outcomes)

    async def attempt(_timeout):
        return probes.ProbeResult(next(results), "m")

    w = probes.ProbeWorker(kind, probe, attempt, started_at=time.monotonic() - 100,
                           on_change=changes.append, on_failure=lambda r: failures.append(r.message))
    return w, changes, failures


async def test_thresholds_and_initial_results():
    w, changes, failures = _worker(probes.READINESS, {"failureThreshold": 2, "successThreshold": 2},
                                   [True, True, False, False, True])
    assert w.result is False  # readiness starts as failure
    await w.step()
    assert changes == []
    await w.step()
    assert changes == [True]
    await w.step()
    assert changes == [True] and len(failures) == 1
    await w.step()
    assert changes == [True, False]
    await w.step()
    assert changes == [True, False]

    live, lchanges, _ = _worker(probes.LIVENESS, {"failureThreshold": 1}, [False, False])
    assert live.result is True
    await live.step()
    assert lchanges == [False] and live.on_hold
    await live.step()  # on hold until the container restarts
    assert lchanges == [False]


async def test_initial_delay_skips_probing():
    w, changes, _ = _worker(probes.READINESS, {"initialDelaySeconds": 30}, [True])
    w.started_at = time.monotonic()
    await w.step()
    assert changes == [] and w.result is False
