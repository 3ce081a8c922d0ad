"""Workload benchmarks (issue 3), in one process on this machine, printing JSON:

- ``scale``: a Deployment going 0 → N replicas (default 1,000) on simulated nodes (KWOK-style
  node agents that mark pods Running without processes) until all replicas are ready:
  controller manager + scheduler + API server + agents all share this process's event loop.
- ``startup``: create → Ready of a real one-container pod (bubblewrap sandbox, shim, real
  process; no probe), sequentially, p50/p90 over ``--pods`` pods.

Run: ``python bench/bench_workloads.py [--replicas 1000] [--nodes 10] [--pods 15]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gitkube.agent import NodeAgent  # noqa: E402
from gitkube.agent.runtime import detect_runtime  # noqa: E402
from gitkube.client import Client  # noqa: E402
from gitkube.controllers.manager import ControllerManager  # noqa: E402
from gitkube.scheduler import Scheduler  # noqa: E402
from gitkube.testing import running_apiserver  # noqa: E402
from gitkube.testing.runtime import FakeRuntime  # noqa: E402


@contextlib.asynccontextmanager
async def components(client: Client, runs: list[Callable[[], Awaitable[None]]]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(run()) for run in runs]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not reached")


def deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scale"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "scale"}},
                     "template": {"metadata": {"labels": {"app": "scale"}},
                                  "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep", "1d"]}]}}}}


async def bench_scale(tmp: Path, replicas: int, nodes: int) -> dict[str, Any]:
    async with running_apiserver(tmp / "scale") as (_server, client):
        agents = [NodeAgent(client, FakeRuntime(), node_name=f"sim-{i}", data_dir=tmp / "scale" / f"n{i}",
                            capacity={"cpu": "64", "memory": "256Gi", "pods": str(replicas // nodes + 50)},
                            simulated=True) for i in range(nodes)]
        manager = ControllerManager(client)
        runs = [manager.run, Scheduler(client).run, *(a.run for a in agents)]
        async with components(client, runs):
            async def nodes_ready() -> bool:
                items = (await client.list("nodes"))["items"]
                return len([n for n in items if n.get("spec", {}).get("podCIDR")]) == nodes

            await wait_until(nodes_ready, 60)
            await client.create("deployments", deployment(0), "default")
            await asyncio.sleep(0.5)
            started, cpu_started = time.perf_counter(), time.process_time()
            await client.patch("deployments", "scale", {"spec": {"replicas": replicas}}, "default")

            async def all_ready() -> bool:
                d = await client.get("deployments", "scale", "default")
                return int((d.get("status") or {}).get("readyReplicas") or 0) >= replicas

            await wait_until(all_ready, 300)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        # cpu_seconds: this process's CPU time meanwhile; it is the wall time on an idle machine
        # (everything shares one event loop), so it stays comparable when other jobs load the cores.
        return {"replicas": replicas, "simulated_nodes": nodes, "seconds_to_all_ready": round(elapsed, 2),
                "cpu_seconds": round(cpu, 2), "pods_per_s": round(replicas / elapsed, 1)}


async def bench_startup(tmp: Path, pods: int) -> dict[str, Any]:
    data = tmp / "startup"
    async with running_apiserver(data) as (_server, client):
        runtime = detect_runtime(data)
        agent = NodeAgent(client, runtime, node_name="node-1", data_dir=data, heartbeat_interval=2.0)
        runs = [ControllerManager(client).run, Scheduler(client).run, agent.run]
        latencies: list[float] = []
        async with components(client, runs):
            async def node_ready() -> bool:
                items = (await client.list("nodes"))["items"]
                return any(n.get("spec", {}).get("podCIDR") for n in items)

            await wait_until(node_ready, 60)
            for i in range(pods):
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}"},
                       "spec": {"containers": [{"name": "c", "image": "x",
                                                "command": ["python3", "-c", "import time; time.sleep(3600)"]}]}}
                started = time.perf_counter()
                await client.create("pods", pod, "default")

                async def ready(name: str = f"p{i}") -> bool:
                    p = await client.get("pods", name, "default")
                    return any(c.get("type") == "Ready" and c.get("status") == "True"
                               for c in (p.get("status") or {}).get("conditions") or [])

                await wait_until(ready, 60)
                latencies.append(time.perf_counter() - started)
            await asyncio.wait_for(agent.shutdown_pods(), 60)
        ms = sorted(x * 1000 for x in latencies)
        return {"runtime": runtime.name, "pods": pods, "create_to_ready_ms_p50": round(statistics.median(ms), 1),
                "create_to_ready_ms_p90": round(ms[int(len(ms) * 0.9) - 1], 1), "max_ms": round(ms[-1], 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, Any] = {}
        if args.only in ("", "scale"):
            result["scale"] = await bench_scale(Path(tmp), args.replicas, args.nodes)
        if args.only in ("", "startup"):
            result["startup"] = await bench_startup(Path(tmp), args.pods)
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--pods", type=int, default=15)
    parser.add_argument("--only", choices=["", "scale", "startup"], default="")
    print(json.dumps(uvloop.run(main(parser.parse_args()))))
