"""The garbage collector follows the shared change feed and re-checks only what a change can
make actionable: ordinary writes (status, data) to owners and dependents enqueue nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gitkube.api import scheme
from gitkube.apiserver import bootstrap, deletion, gc, ipalloc
from gitkube.apiserver import registry as reg
from gitkube.store import SqliteStore

CM = scheme.by_plural("", "configmaps")
NS = scheme.by_plural("", "namespaces")
OPTS = reg.WriteOptions(field_manager="test")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[reg.Registry, gc.GarbageCollector, list[str]]]:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    registry = reg.Registry(store, ipalloc.ClusterIPAllocator())
    await bootstrap.ensure_defaults(registry, "127.0.0.1", 6443)
    collector = gc.GarbageCollector(registry, store)
    synced: list[str] = []
    real_sync = collector._sync

    async def counting_sync(key: str) -> None:
        synced.append(key)
        await real_sync(key)

    collector._sync = counting_sync  # type: ignore[method-assign]
    task = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.synced.wait(), 5)
    yield registry, collector, synced
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()


def cm(name: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    if owner is not None:
        m = owner["metadata"]
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": m["name"],
                                               "uid": m["uid"]}]
    return obj


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def idle(collector: gc.GarbageCollector) -> None:
    async def empty() -> bool:
        return collector._queue.empty() and not collector._queued

    await eventually(empty)
    await asyncio.sleep(0.05)  # the change feed delivered what was written


async def exists(registry: reg.Registry, namespace: str | None, name: str, info: Any = CM) -> bool:
    try:
        await registry.get(info, namespace, name)
        return True
    except Exception:
        return False


def set_data(value: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(live: dict[str, Any]) -> dict[str, Any]:
        live["data"] = {"k": value}
        return live
    return mutate


async def test_plain_writes_enqueue_nothing(setup: tuple[reg.Registry, gc.GarbageCollector, list[str]]) -> None:
    registry, collector, synced = setup
    owner = (await registry.create(CM, "default", cm("owner"), OPTS)).object
    for i in range(5):
        await registry.create(CM, "default", cm(f"child-{i}", owner), OPTS)
    await idle(collector)
    synced.clear()
    for round_ in range(3):
        await registry.mutate(CM, "default", "owner", set_data(f"o{round_}"), OPTS)
        for i in range(5):
            await registry.mutate(CM, "default", f"child-{i}", set_data(f"c{round_}"), OPTS)
    await idle(collector)
    assert synced == []
    # the index still follows those writes: deleting the owner collects every child
    await deletion.delete(registry, CM, "default", "owner", deletion.DeleteOptions({"propagationPolicy": "Background"}))

    async def children_gone() -> bool:
        return not any([await exists(registry, "default", f"child-{i}") for i in range(5)])

    await eventually(children_gone)
    assert scheme.storage_key(CM, "default", "child-0") not in collector._objects


async def test_owner_reference_change_is_rechecked(setup: tuple[reg.Registry, gc.GarbageCollector, list[str]]) -> None:
    registry, collector, _synced = setup
    owner = (await registry.create(CM, "default", cm("owner"), OPTS)).object
    await registry.create(CM, "default", cm("child"), OPTS)
    await deletion.delete(registry, CM, "default", "owner", deletion.DeleteOptions({"propagationPolicy": "Background"}))
    await idle(collector)

    def adopt(live: dict[str, Any]) -> dict[str, Any]:  # a reference to an owner that is gone
        live["metadata"]["ownerReferences"] = cm("x", owner)["metadata"]["ownerReferences"]
        return live

    await registry.mutate(CM, "default", "child", adopt, OPTS)

    async def child_gone() -> bool:
        return not await exists(registry, "default", "child")

    await eventually(child_gone)


async def test_foreground_owner_waits_for_a_dependent_released_elsewhere(
        setup: tuple[reg.Registry, gc.GarbageCollector, list[str]]) -> None:
    registry, collector, _synced = setup
    owner = (await registry.create(CM, "default", cm("owner"), OPTS)).object
    child = cm("child", owner)
    child["metadata"]["finalizers"] = ["test/hold"]
    await registry.create(CM, "default", child, OPTS)
    await deletion.delete(registry, CM, "default", "owner", deletion.DeleteOptions({"propagationPolicy": "Foreground"}))
    await idle(collector)
    assert await exists(registry, "default", "owner")  # the child is held by its finalizer

    def release(live: dict[str, Any]) -> dict[str, Any]:
        live["metadata"]["finalizers"] = []
        return live

    await registry.mutate(CM, "default", "child", release, OPTS)

    async def owner_gone() -> bool:
        return not await exists(registry, "default", "owner")

    await eventually(owner_gone)


async def test_terminating_namespace_finishes(setup: tuple[reg.Registry, gc.GarbageCollector, list[str]]) -> None:
    registry, collector, _synced = setup
    await registry.create(NS, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}, OPTS)
    held = cm("held")
    held["metadata"]["finalizers"] = ["test/hold"]
    await registry.create(CM, "doomed", held, OPTS)
    await deletion.delete(registry, NS, None, "doomed", deletion.DeleteOptions())
    await idle(collector)
    assert await exists(registry, None, "doomed", NS)

    def release(live: dict[str, Any]) -> dict[str, Any]:
        live["metadata"]["finalizers"] = []
        return live

    await registry.mutate(CM, "doomed", "held", release, OPTS)

    async def ns_gone() -> bool:
        return not await exists(registry, None, "doomed", NS)

    await eventually(ns_gone)
