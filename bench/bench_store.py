"""Benchmark of a store (SQLite on a temporary directory, or etcd); prints one JSON object.

    python bench/bench_store.py [--store sqlite|etcd] [--etcd-url etcd://HOST:PORT[/prefix]]
                                [--objects 5000] [--watchers 10] [--events 500] [--uvloop]

Measures sequential creates, updates and gets per second, creates per second with 50 in flight,
the time to list a 1,000-object collection (in a store holding ``--objects`` more elsewhere),
and the watch fan-out latency (from the write call until each of ``--watchers`` watchers holds
the event) at p50 and p99. ``--store etcd`` starts a throwaway single-member etcd on loopback
(``gitkube.testing.etcd``, data dir in a temporary directory) unless ``--etcd-url`` names one;
the store then uses a fresh key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gitkube.store import SqliteStore, Store

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


@asynccontextmanager
async def opened_store(kind: str, etcd_url: str | None) -> AsyncIterator[Store]:
    """A new, opened store of ``kind`` (and the etcd it runs on, for ``etcd``), closed at exit."""
    with tempfile.TemporaryDirectory() as tmp:
        store: Store
        member = None
        if kind == "sqlite":
            store = SqliteStore(pathlib.Path(tmp) / "state.db", history=0)
        else:
            from gitkube.store.etcd import EtcdStore
            from gitkube.testing.etcd import EtcdMember, member_url

            if etcd_url is None:
                member = EtcdMember("bench", pathlib.Path(tmp) / "etcd")
                member.start()
                etcd_url = member_url(member)
            store = EtcdStore(f"{etcd_url.rstrip('/')}/bench-{uuid.uuid4().hex[:8]}", history=0)
        try:
            await store.open()
            try:
                yield store
            finally:
                await store.close()
        finally:
            if member is not None:
                member.kill()


async def run(objects: int, watchers: int, events: int, kind: str = "sqlite",
              etcd_url: str | None = None) -> dict[str, Any]:
    async with opened_store(kind, etcd_url) as store:
        start = time.perf_counter()
        for i in range(objects):
            await store.create(f"/registry/core/pods/bulk/p{i:06d}", pod("bulk", f"p{i:06d}"))
        creates = objects / (time.perf_counter() - start)

        start = time.perf_counter()
        for i in range(objects):
            changed = pod("bulk", f"p{i:06d}")
            changed["status"]["podIP"] = "10.0.0.13"
            await store.update(f"/registry/core/pods/bulk/p{i:06d}", changed)
        updates = objects / (time.perf_counter() - start)

        start = time.perf_counter()
        sem = asyncio.Semaphore(50)

        async def create_one(i: int) -> None:
            async with sem:
                await store.create(f"/registry/core/pods/conc/p{i:06d}", pod("conc", f"p{i:06d}"))

        await asyncio.gather(*(create_one(i) for i in range(objects)))
        concurrent = objects / (time.perf_counter() - start)

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
    return {
        "store": kind,
        "creates_per_s": round(creates),
        "updates_per_s": round(updates),
        "creates_50_concurrent_per_s": round(concurrent),
        "gets_per_s": round(gets),
        "list_1000_ms": round(statistics.median(list_ms), 2),
        "watch_fanout_latency_p50_ms": round(percentile(latencies, 0.50), 3),
        "watch_fanout_latency_p99_ms": round(percentile(latencies, 0.99), 3),
        "watchers": watchers,
        "objects": objects,
    }


async def fanout(store: Store, watchers: int, events: int) -> list[float]:
    """Latency (ms) from each write call to each watcher holding its event."""
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
        issued = time.perf_counter()  # an etcd watcher may hold the event before the write returns
        obj = await store.create(f"/registry/core/pods/fan/p{i:05d}", pod("fan", f"p{i:05d}"))
        sent[int(obj["metadata"]["resourceVersion"])] = issued
        await asyncio.sleep(0.001)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return [(at - sent[rev]) * 1000 for rev, at in received]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "etcd"), default="sqlite")
    parser.add_argument("--etcd-url", default=None, help="an etcd to use [default: start a throwaway one]")
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as the API server does")
    args = parser.parse_args()
    coro = run(args.objects, args.watchers, args.events, args.store, args.etcd_url)
    if args.uvloop:
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
