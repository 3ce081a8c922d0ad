"""Scheduler throughput: pods bound per second with 100 nodes.

A real API server runs in this process (``gitkube.testing.running_apiserver``, SQLite
store) with 100 Node objects (cpu 32, memory 128Gi, pods 110). The scheduler starts and
syncs, then N pods (default 2,000, each requesting 100m CPU and 128Mi) are created by 50
concurrent writers; a watch on pods records when each is bound. Reported: time from the
first create to the last pod bound, pods/s, and create -> bound latency percentiles.

With ``--prefill`` the pods are created first and the scheduler starts afterwards, so the
time covers scheduling and binding only. ``algorithm_pods_per_s`` is the scheduling cycle
alone (filter, score, assume over the same 100 nodes, no API calls).

Run: ``python bench/bench_scheduler.py [--pods 2000] [--nodes 100] [--prefill]``; prints one
JSON object. Everything (API server, store, scheduler, load) shares one event loop on one
core, so the end-to-end number is bounded by the API server's create + bind + event writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gitkube.scheduler import Scheduler, registry, runtime  # noqa: E402
from gitkube.scheduler.cache import SchedulerCache  # noqa: E402
from gitkube.scheduler.nodeinfo import PodInfo  # noqa: E402
from gitkube.testing import running_apiserver  # noqa: E402


def _node(name: str) -> dict[str, Any]:
    resources = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "bench",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


def _algorithm_rate(pods: int, nodes: int) -> float:
    cache = SchedulerCache()
    for i in range(nodes):
        cache.set_node(_node(f"node-{i:03d}"))
    reg = registry.default_registry()
    fw = runtime.Framework(reg.build(registry.DEFAULT_PLUGINS), registry.DEFAULT_WEIGHTS)
    rng = random.Random(0)
    objs = []
    for i in range(pods):
        p = _pod(f"p{i}")
        p["metadata"].update(uid=f"uid-{i}", namespace="default")
        objs.append(p)
    start = 0
    t0 = time.perf_counter()
    for p in objs:
        info = PodInfo.of(p)
        decision = runtime.schedule_pod(fw, info, cache.node_list(), rng=rng, start=start)
        start = (start + decision.evaluated) % nodes
        cache.assume(info, decision.node)
    return pods / (time.perf_counter() - t0)


async def _run(pods: int, nodes: int, writers: int, prefill: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_apiserver(Path(tmp) / "data", history=max(10000, pods * 8)) as (_server, client):
            await asyncio.gather(*(client.create("nodes", _node(f"node-{i:03d}")) for i in range(nodes)))
            scheduler = Scheduler(client)
            sched_task: asyncio.Task[None] | None = None
            if not prefill:
                sched_task = asyncio.create_task(scheduler.run())
                await scheduler.pods.synced.wait()
                await scheduler.nodes.synced.wait()
            rv = str((await client.list("pods", "default"))["metadata"]["resourceVersion"])

            created: dict[str, float] = {}
            bound: dict[str, float] = {}
            per_node: dict[str, int] = {}
            all_bound = asyncio.Event()

            async def watch() -> None:
                async for ev in client.watch("pods", "default", resource_version=rv):
                    node = (ev.object.get("spec") or {}).get("nodeName")
                    name = ev.object["metadata"]["name"]
                    if node and name not in bound:
                        bound[name] = time.perf_counter()
                        per_node[node] = per_node.get(node, 0) + 1
                        if len(bound) == pods:
                            all_bound.set()
                            return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.1)
            names = [f"bench-{i:05d}" for i in range(pods)]

            async def writer(chunk: list[str]) -> None:
                for name in chunk:
                    created[name] = time.perf_counter()
                    await client.create("pods", _pod(name), "default")

            t0, cpu0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(writer(names[i::writers]) for i in range(writers)))
            t_created = time.perf_counter()
            creates_per_s = pods / (t_created - t0)
            if sched_task is None:
                t0, cpu0 = time.perf_counter(), time.process_time()
                created = dict.fromkeys(names, t0)
                sched_task = asyncio.create_task(scheduler.run())
            await asyncio.wait_for(all_bound.wait(), timeout=300)
            t1, cpu1 = time.perf_counter(), time.process_time()
            latencies = sorted((bound[n] - created[n]) * 1000 for n in names)
            sched_task.cancel()
            watcher.cancel()
            for t in (sched_task, watcher):
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            return {
                "mode": "prefill" if prefill else "create+schedule",
                "nodes": nodes,
                "pods": pods,
                "seconds": round(t1 - t0, 3),
                "pods_per_s": round(pods / (t1 - t0), 1),
                # this process's CPU time meanwhile: the wall time on an idle machine, so it
                # stays comparable when other jobs share the cores
                "cpu_seconds": round(cpu1 - cpu0, 3),
                "pods_per_cpu_s": round(pods / max(cpu1 - cpu0, 1e-9), 1),
                "creates_per_s": round(creates_per_s, 1),
                "p50_bind_latency_ms": round(statistics.median(latencies), 1),
                "p99_bind_latency_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
                "pods_per_node_min_max": [min(per_node.values()), max(per_node.values())],
                "nodes_used": len(per_node),
                "algorithm_pods_per_s": round(_algorithm_rate(pods, nodes), 1),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--prefill", action="store_true", help="create the pods before the scheduler starts")
    args = parser.parse_args()
    result = uvloop.run(_run(args.pods, args.nodes, args.writers, args.prefill))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
