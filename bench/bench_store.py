"""Benchmark of the SQLite store on a temporary directory; prints one JSON object.

    python bench/bench_store.py [--objects 5000] [--watchers 10] [--events 500] [--uvloop]

Measures sequential creates and gets per second, the time to list a 1,000-object collection
(in a store holding ``--objects`` more elsewhere), and the watch fan-out latency (commit of a
write until each of ``--watchers`` watchers holds the event) at p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import tempfile
import time
from typing import Any

from gitkube.store import SqliteStore

__all__ = ["main", "run"]


def pod(namespace: str, name: str) -> dict[str, Any]:
    """A pod of realistic size (~1.3 KB of JSON)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"6f1c1e2a-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
            "labels": {"app": "web", "pod-template-hash": "5d8f7c9b6", "tier": "front"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b6",
                                 "uid": "0c1d", "controller": True, "blockOwnerDeletion": True}],
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {
            "containers": [{
                "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
                "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
                "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(8)],
            }],
            "nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        },
        "status": {"phase": "Running", "podIP": "10.0.0.12", "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]},
    }


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(objects: int, watchers: int, events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(pathlib.Path(tmp) / "state.db", history=0)
        await store.open()
        try:
            start = time.perf_counter()
            for i in range(objects):
                await store.create(f"/registry/core/pods/bulk/p{i:06d}", pod("bulk", f"p{i:06d}"))
            creates = objects / (time.perf_counter() - start)

            start = time.perf_counter()
            for i in range(objects):
                await store.get(f"/registry/core/pods/bulk/p{i:06d}")
            gets = objects / (time.perf_counter() - start)

            for i in range(1000):
                await store.create(f"/registry/core/pods/listed/p{i:04d}", pod("listed", f"p{i:04d}"))
            list_ms = []
            for _ in range(7):
                start = time.perf_counter()
                result = await store.list("/registry/core/pods/listed/")
                list_ms.append((time.perf_counter() - start) * 1000)
                assert len(result.items) == 1000

            latencies = await fanout(store, watchers, events)
        finally:
            await store.close()
    return {
        "creates_per_s": round(creates),
        "gets_per_s": round(gets),
        "list_1000_ms": round(statistics.median(list_ms), 2),
        "watch_fanout_latency_p50_ms": round(percentile(latencies, 0.50), 3),
        "watch_fanout_latency_p99_ms": round(percentile(latencies, 0.99), 3),
        "watchers": watchers,
        "objects": objects,
    }


async def fanout(store: SqliteStore, watchers: int, events: int) -> list[float]:
    """Latency (ms) from each write's commit to each watcher holding its event."""
    sent: dict[int, float] = {}
    received: list[tuple[int, float]] = []
    since = await store.current_revision()

    async def watch() -> None:
        seen = 0
        async for event in store.watch("/registry/core/pods/fan/", since):
            received.append((event.revision, time.perf_counter()))
            seen += 1
            if seen == events:
                return

    tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
    await asyncio.sleep(0.05)  # let every watcher subscribe
    for i in range(events):
        obj = await store.create(f"/registry/core/pods/fan/p{i:05d}", pod("fan", f"p{i:05d}"))
        sent[int(obj["metadata"]["resourceVersion"])] = time.perf_counter()
        await asyncio.sleep(0.001)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return [(at - sent[rev]) * 1000 for rev, at in received]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as the API server does")
    args = parser.parse_args()
    coro = run(args.objects, args.watchers, args.events)
    if args.uvloop:
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
