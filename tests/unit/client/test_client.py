"""The REST client, informer, work queue and event recorder against a real API server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gitkube import errors
from gitkube.client import EventRecorder, Handler, Informer, WorkQueue, run_workers
from gitkube.testing import running_apiserver


def cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"t": "1"}}, "data": data}


async def test_verbs(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        created = await client.create("configmaps", cm("a", k="1"), "default")
        assert created["metadata"]["uid"]
        got = await client.get("cm", "a", "default")
        assert got == created
        patched = await client.patch("configmaps", "a", {"data": {"k": "2"}}, "default")
        assert patched["data"] == {"k": "2"}
        stale = dict(created, data={"k": "3"})
        with pytest.raises(errors.Conflict):
            await client.update("configmaps", stale)
        listed = await client.list("configmaps", "default", label_selector="t=1", limit=1)
        assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
        await client.delete("configmaps", "a", "default")
        with pytest.raises(errors.NotFound):
            await client.get("configmaps", "a", "default")


async def test_informer_follows_changes_and_workqueue_dedups(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        await client.create("configmaps", cm("pre"), "default")
        informer = Informer(client, "configmaps", namespace="default")
        queue: WorkQueue[str] = WorkQueue()
        seen: list[str] = []
        done = asyncio.Event()

        async def sync(key: str) -> None:
            seen.append(key)
            if key == "default/last":
                done.set()

        informer.add_handler(Handler(on_add=lambda o: queue.add(f"default/{o['metadata']['name']}"),
                                     on_update=lambda _o, n: queue.add(f"default/{n['metadata']['name']}"),
                                     on_delete=lambda o: queue.add(f"default/{o['metadata']['name']}")))
        tasks = [asyncio.create_task(informer.run()), asyncio.create_task(run_workers(queue, sync))]
        try:
            await asyncio.wait_for(informer.synced.wait(), 5)
            assert informer.get("default", "pre") is not None
            await client.create("configmaps", cm("x"), "default")
            await client.patch("configmaps", "x", {"data": {"a": "b"}}, "default")
            await client.delete("configmaps", "x", "default")
            await client.create("configmaps", cm("last"), "default")
            await asyncio.wait_for(done.wait(), 5)
            assert informer.get("default", "x") is None and informer.get("default", "last") is not None
            assert "default/pre" in seen and "default/x" in seen
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_workqueue_backoff_and_exclusivity() -> None:
    queue: WorkQueue[str] = WorkQueue(base=0.01, cap=0.05)
    running: set[str] = set()
    attempts: dict[str, int] = {}
    finished = asyncio.Event()

    async def sync(key: str) -> None:
        assert key not in running, "a key must never be processed twice at once"
        running.add(key)
        try:
            queue.add(key)  # re-added while processing: runs again after done()
            await asyncio.sleep(0.001)
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] < 3:
                raise RuntimeError("transient")
            finished.set()
        finally:
            running.discard(key)

    queue.add("k")
    task = asyncio.create_task(run_workers(queue, sync, workers=3, max_retries=5))
    await asyncio.wait_for(finished.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert attempts["k"] >= 3


async def test_event_recorder_aggregates(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        obj = await client.create("configmaps", cm("subject"), "default")
        rec = EventRecorder(client, "test-controller", host="node-1")
        for _ in range(3):
            rec.record(obj, "Normal", "Tested", "it happened")
        await rec.flush()
        events = (await client.list("events", "default", field_selector="involvedObject.name=subject"))["items"]
        assert len(events) == 1 and events[0]["count"] == 3
        assert events[0]["source"] == {"component": "test-controller", "host": "node-1"}
