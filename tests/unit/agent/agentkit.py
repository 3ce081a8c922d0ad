"""Helpers for the node agent tests: a real API server, a FakeRuntime, an agent task."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent import NodeAgent
from gitkube.client import Client
from gitkube.testing import running_apiserver
from gitkube.testing.runtime import FakeRuntime

NODE = "node-1"
CIDR = "127.10.0.0/24"


@dataclass
class Kit:
    client: Client
    runtime: FakeRuntime
    data_dir: Path
    agent: NodeAgent
    task: asyncio.Task[None]

    def restart_agent(self, **kwargs: Any) -> None:
        self.agent = make_agent(self.client, self.runtime, self.data_dir, **kwargs)
        self.task = asyncio.create_task(self.agent.run())

    async def stop_agent(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def make_agent(client: Client, runtime: Any, data_dir: Path, **kwargs: Any) -> NodeAgent:
    opts: dict[str, Any] = {"node_name": NODE, "data_dir": data_dir, "pod_cidr": CIDR, "crashloop_base": 0.2,
                            "crashloop_cap": 0.8, "heartbeat_interval": 0.3}
    opts.update(kwargs)
    return NodeAgent(client, runtime, **opts)


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, runtime: Any = None, **kwargs: Any) -> AsyncIterator[Kit]:
    async with running_apiserver(tmp_path / "api") as (_server, client):
        rt = runtime if runtime is not None else FakeRuntime()
        data = tmp_path / "agent"
        agent = make_agent(client, rt, data, **kwargs)
        kit = Kit(client, rt, data, agent, asyncio.create_task(agent.run()))
        try:
            yield kit
        finally:
            # Stop the containers too: with the real runtime they outlive the agent by design,
            # and a leftover would hold its pod IP:port into the next test.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(kit.agent.shutdown_pods(), 30)
            await kit.stop_agent()
            await kit.agent.events.flush()


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "containers": containers, "terminationGracePeriodSeconds": 2, **spec}}


def container(name: str = "app", command: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "python:3.11", "command": command or ["sleep", "3600"], **extra}


async def wait_pod(client: Client, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                   namespace: str = "default") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = await client.get("pods", name, namespace)
        except errors.NotFound:
            last = {}
        if check(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"pod {name} never matched; last: {last.get('status')}")


async def wait_gone(client: Client, name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await client.get("pods", name, "default")
        except errors.NotFound:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"pod {name} was not deleted")


def condition(p: dict[str, Any], kind: str) -> str:
    for c in (p.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return ""


def is_ready(p: dict[str, Any]) -> bool:
    return condition(p, "Ready") == "True"


def cstatus(p: dict[str, Any], name: str = "app", init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for s in (p.get("status") or {}).get(key) or []:
        if s.get("name") == name:
            return dict(s)
    return {}


async def events_of(client: Client, name: str) -> list[tuple[str, str]]:
    items = (await client.list("events", "default"))["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]
