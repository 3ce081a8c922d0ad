"""Service proxy benchmark: new connections per second and request latency through a
Service's cluster IP, compared with the same backends reached directly.

Run: ``python bench/bench_proxy.py [--seconds 5] [--clients 32] [--requests 2000]``; prints
one JSON object. A real API server and a ``ServiceProxy`` run in this process with two
small keep-alive HTTP backends on loopback addresses; the load generator runs in a child
process so that it does not share the proxy's event loop. On a 2-core machine client,
proxy and backends compete for CPU, so the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gitkube.proxy import ServiceProxy  # noqa: E402
from gitkube.testing import running_apiserver  # noqa: E402

_REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
_BODY = b"ok\n"
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)


async def _backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(_RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_REQUEST)
    await reader.readexactly(len(_RESPONSE))


async def _connections_per_s(host: str, port: int, seconds: float, clients: int) -> float:
    done = [0]
    stop = time.perf_counter() + seconds

    async def one() -> None:
        while time.perf_counter() < stop:
            reader, writer = await asyncio.open_connection(host, port)
            await _request(reader, writer)
            writer.close()
            done[0] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return done[0] / (time.perf_counter() - t0)


async def _latency_ms(host: str, port: int, requests: int) -> dict[str, float]:
    reader, writer = await asyncio.open_connection(host, port)
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        await _request(reader, writer)
        samples.append((time.perf_counter() - t0) * 1000)
    writer.close()
    samples.sort()
    return {"p50": round(statistics.median(samples), 3), "p99": round(samples[int(len(samples) * 0.99) - 1], 3)}


def _load(host: str, port: int, seconds: float, clients: int, requests: int, out: Any) -> None:
    async def main() -> dict[str, Any]:
        return {"connections_per_s": round(await _connections_per_s(host, port, seconds, clients), 1),
                "request_latency_ms": await _latency_ms(host, port, requests)}
    out.put(asyncio.run(main()))


async def _measure(host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_load, args=(host, port, args.seconds, args.clients, args.requests, out))
    child.start()
    result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, out.get)
    await asyncio.get_running_loop().run_in_executor(None, child.join)
    return result


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_apiserver(Path(tmp) / "data") as (_server, client):
            servers = [await asyncio.start_server(_backend, f"127.211.0.{i}", 0) for i in (11, 12)]
            ports = [int(s.sockets[0].getsockname()[1]) for s in servers]
            proxy = ServiceProxy(client)
            task = asyncio.create_task(proxy.run())
            try:
                svc = await client.create("services", {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench"},
                    "spec": {"selector": {"app": "bench"}, "ports": [{"name": "http", "port": 8080}]}}, "default")
                await client.create("endpoints", {
                    "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "bench"},
                    "subsets": [{"addresses": [{"ip": f"127.211.0.{i}"}], "ports": [{"name": "http", "port": p}]}
                                for i, p in zip((11, 12), ports, strict=True)]}, "default")
                ip = svc["spec"]["clusterIP"]
                deadline = time.monotonic() + 10
                while not ((b := proxy.balancer("default/bench", "http")) and len(b.backends) == 2):
                    if time.monotonic() > deadline:
                        raise SystemExit("the proxy did not pick up the endpoints")
                    await asyncio.sleep(0.05)
                direct = await _measure("127.211.0.11", ports[0], args)
                proxied = await _measure(ip, 8080, args)
            finally:
                task.cancel()
                for s in servers:
                    s.close()
    return {"benchmark": "service proxy", "clients": args.clients, "seconds": args.seconds,
            "direct": direct, "through_proxy": proxied,
            "connections_ratio": round(proxied["connections_per_s"] / direct["connections_per_s"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000)
    print(json.dumps(asyncio.run(_run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
