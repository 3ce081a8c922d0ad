"""API server benchmark: GETs/s and creates/s with 50 concurrent clients over TLS, and
watch latency (write sent → event seen by a watcher), against a real ``gitkube up``.

Run: ``python bench/bench_api.py [--seconds 10] [--clients 50] [--store sqlite|etcd] [--service-cidr CIDR]``;
prints one JSON object. ``--store etcd`` runs the daemon on a throwaway single-member etcd on
loopback (``gitkube.testing.etcd``); ``--service-cidr`` is passed to the daemon (the range its
service proxy binds), so the bench does not collide with another daemon on this machine.
The load generator runs in this process (aiohttp client, uvloop), the server in its own
process, both on this machine: on 2 cores they compete for CPU, so the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.conftest import start_daemon, stop_daemon  # noqa: E402


def _cm(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"bench": "1"}},
            "data": {"key": "value" * 10}}


async def _run(url: str, token: str, ca: Path, seconds: float, clients: int) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=str(ca))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(ssl=ctx, limit=clients)
    async with aiohttp.ClientSession(url, headers=headers, connector=conn) as session:
        base = "/api/v1/namespaces/default/configmaps"
        async with session.post(base, json=_cm("bench-get")) as r:
            assert r.status in (201, 409), await r.text()

        async def loop_get(stop: float, counts: list[int]) -> None:
            while time.perf_counter() < stop:
                async with session.get(f"{base}/bench-get") as r:
                    await r.read()
                    assert r.status == 200
                counts[0] += 1

        counts = [0]
        stop = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(loop_get(stop, counts) for _ in range(clients)))
        gets_per_s = counts[0] / (time.perf_counter() - t0)

        seq = [0]

        async def loop_create(stop: float, counts: list[int]) -> None:
            while time.perf_counter() < stop:
                seq[0] += 1
                async with session.post(base, json=_cm(f"b-{seq[0]}")) as r:
                    await r.read()
                    assert r.status == 201, r.status
                counts[0] += 1

        counts = [0]
        stop = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(loop_create(stop, counts) for _ in range(clients)))
        creates_per_s = counts[0] / (time.perf_counter() - t0)

        # watch latency: one watcher, sequential writes, time from send to event
        async with session.get(base, params={"limit": "1"}) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        latencies: list[float] = []
        n = 300
        done = asyncio.Event()

        async def watcher() -> None:
            async with session.get(base, params={"watch": "true", "resourceVersion": rv}, timeout=aiohttp.ClientTimeout(total=None)) as r:
                async for line in r.content:
                    event = json.loads(line)
                    name = event["object"]["metadata"]["name"]
                    if name in sent:
                        latencies.append(time.perf_counter() - sent.pop(name))
                        if len(latencies) == n:
                            done.set()
                            return

        task = asyncio.create_task(watcher())
        await asyncio.sleep(0.2)
        for i in range(n):
            name = f"w-{i}"
            sent[name] = time.perf_counter()
            async with session.post(base, json=_cm(name)) as r:
                await r.read()
            await asyncio.sleep(0.005)
        await asyncio.wait_for(done.wait(), 30)
        task.cancel()
        lat_ms = sorted(x * 1000 for x in latencies)
        return {
            "clients": clients,
            "seconds_per_phase": seconds,
            "gets_per_s": round(gets_per_s, 1),
            "creates_per_s": round(creates_per_s, 1),
            "watch_latency_ms_p50": round(statistics.median(lat_ms), 2),
            "watch_latency_ms_p99": round(lat_ms[int(len(lat_ms) * 0.99) - 1], 2),
            "watch_events": len(lat_ms),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--store", choices=("sqlite", "etcd"), default="sqlite")
    parser.add_argument("--service-cidr", default=None, help="passed to the daemon [default: its own]")
    args = parser.parse_args()
    extra = ["--no-local-node"] + (["--service-cidr", args.service_cidr] if args.service_cidr else [])
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.store == "etcd":
            from gitkube.testing.etcd import EtcdMember, member_url

            member = EtcdMember("bench-api", Path(tmp) / "etcd")
            member.start()
            stack.callback(member.kill)
            extra += ["--store", member_url(member, "/bench-api")]
        daemon = start_daemon(Path(tmp) / "data", extra_args=extra, timeout=60)
        try:
            tokens = json.loads((daemon.data_dir / "tokens").read_text())
            result = uvloop.run(_run(daemon.url, tokens["admin"], daemon.data_dir / "pki" / "ca.crt",
                                     args.seconds, args.clients))
        finally:
            stop_daemon(daemon)
    print(json.dumps({"store": args.store, **result}))


if __name__ == "__main__":
    main()
