"""The shared-decode watch feed of the SQLite store (``watch_changes``, ``Change.object``,
``Change.line``) that the API server's watch streams read."""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import AsyncIterator

import pytest

from gitkube.store import SqliteStore
from gitkube.store.watchhub import Change

from .conformance import pod


@pytest.fixture
async def db(tmp_path: pathlib.Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    yield store
    await store.close()


def test_change_decodes_once_and_encodes_stream_lines() -> None:
    value = json.dumps({"metadata": {"name": "a", "resourceVersion": "7"}})
    change = Change("MODIFIED", "/registry/pods/d/a", value, json.dumps({"metadata": {"name": "a"}}), 7)
    assert change.object is change.object  # decoded once, shared
    assert change.object["metadata"]["resourceVersion"] == "7"
    assert change.prev_object == {"metadata": {"name": "a"}}
    line = change.line("DELETED")
    assert line.endswith(b"\n") and change.line("DELETED") is line
    assert json.loads(line) == {"type": "DELETED", "object": change.object}
    assert Change("ADDED", "k", value, None, 7).prev_object is None
    # to_event still hands out private copies
    event = change.to_event()
    assert event.object == change.object and event.object is not change.object


async def test_watch_changes_replays_then_follows_in_order(db: SqliteStore) -> None:
    first = await db.create("/registry/pods/d/a", pod("d", "a"))
    since = int(first["metadata"]["resourceVersion"])
    await db.update("/registry/pods/d/a", {**pod("d", "a"), "spec": {"x": 1}})
    feed = db.watch_changes("/registry/pods/", since)
    try:
        replayed = await asyncio.wait_for(anext(feed), 5)
        assert (replayed.type, replayed.revision) == ("MODIFIED", since + 1)
        assert replayed.object["spec"] == {"x": 1} and replayed.prev_object is not None
        await db.delete("/registry/pods/d/a")
        live = await asyncio.wait_for(anext(feed), 5)
        assert (live.type, live.revision) == ("DELETED", since + 2)
        assert live.object["metadata"]["resourceVersion"] == str(since + 2)
    finally:
        await feed.aclose()


async def test_update_with_the_same_data_in_another_key_order_is_no_change(db: SqliteStore) -> None:
    created = await db.create("/registry/pods/d/a", {"apiVersion": "v1", "kind": "Pod",
                                                      "metadata": {"name": "a", "namespace": "d"}, "spec": {"a": 1, "b": 2}})
    reordered = {"spec": {"b": 2, "a": 1}, "kind": "Pod", "apiVersion": "v1",
                 "metadata": {"namespace": "d", "name": "a"}}
    again = await db.update("/registry/pods/d/a", reordered)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    changed = await db.update("/registry/pods/d/a", {**reordered, "spec": {"a": 2}})
    assert int(changed["metadata"]["resourceVersion"]) == int(created["metadata"]["resourceVersion"]) + 1
    assert changed["spec"] == {"a": 2}


async def test_a_timed_out_read_loses_nothing(db: SqliteStore) -> None:
    feed = db.watch_changes("/registry/pods/", 0)
    try:
        assert not feed.ready()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await anext(feed)
        await db.create("/registry/pods/d/a", pod("d", "a"))
        await db.create("/registry/pods/d/b", pod("d", "b"))
        assert feed.ready()
        got = [await asyncio.wait_for(anext(feed), 5) for _ in range(2)]
        assert [c.object["metadata"]["name"] for c in got] == ["a", "b"]
    finally:
        await feed.aclose()
    await db.create("/registry/pods/d/c", pod("d", "c"))  # a closed feed no longer buffers


def test_previous_object_is_shared_with_the_change_before_and_events_stay_private() -> None:
    from gitkube.store.watchhub import WatchHub

    hub = WatchHub()
    v1 = json.dumps({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"n": 1}})
    v2 = json.dumps({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": {"n": 2}})
    first = Change("ADDED", "k", v1, None, 1)
    hub.publish(first)
    decoded = first.object
    second = Change("MODIFIED", "k", v2, v1, 2)
    hub.publish(second)
    assert second.prev_object is decoded  # no second decode of the same text
    other = Change("MODIFIED", "k", v2, json.dumps({"x": 1}), 3)  # a different previous text
    hub.publish(other)
    assert other.prev_object == {"x": 1}
    event = second.to_event()
    assert event.prev_object == decoded and event.prev_object is not decoded
    event.object["spec"]["n"] = 99
    assert second.object["spec"]["n"] == 2
