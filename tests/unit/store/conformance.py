"""The Store conformance suite: the contract of ``gitkube.store.base.Store``, for every backend.

A backend's test module subclasses :class:`StoreConformance` and provides two fixtures:

- ``store``: a fresh, opened, empty store (closed at teardown);
- ``reopen``: an async callable that closes a store and returns a new opened one over the same
  data (same file, same etcd cluster and key prefix).

Only the Store contract is tested here (nothing SQLite-specific), so the etcd store reuses the
suite unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gitkube import errors
from gitkube.api import selectors
from gitkube.store.base import Store, WatchEvent

__all__ = ["StoreConformance", "next_events", "pod", "pod_key", "watching"]

PODS = "/registry/core/pods/"
TIMEOUT = 5.0

Reopen = Callable[[Store], Awaitable[Store]]


def pod_key(namespace: str, name: str) -> str:
    return f"{PODS}{namespace}/{name}"


def pod(namespace: str, name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": dict(spec)}


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def body(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without its resourceVersion."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


@contextlib.asynccontextmanager
async def watching(store: Store, prefix: str, since: int) -> AsyncIterator[AsyncIterator[WatchEvent]]:
    """A watch that is closed when the block ends."""
    it = store.watch(prefix, since)
    try:
        yield it
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


async def next_events(it: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    """The next ``n`` events, failing the test if they do not come within TIMEOUT."""

    async def take() -> list[WatchEvent]:
        return [await anext(it) for _ in range(n)]

    return await asyncio.wait_for(take(), TIMEOUT)


class StoreConformance:
    """Subclass with ``store`` and ``reopen`` fixtures (see the module doc)."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        raise NotImplementedError("a StoreConformance subclass must provide the 'store' fixture")
        yield  # pragma: no cover

    @pytest.fixture
    def reopen(self) -> Reopen:
        raise NotImplementedError("a StoreConformance subclass must provide the 'reopen' fixture")

    # -- create / get ----------------------------------------------------------------

    async def test_empty_store_is_at_revision_zero(self, store: Store) -> None:
        assert await store.current_revision() == 0
        assert await store.compacted_revision() == 0
        result = await store.list(PODS)
        assert result.items == [] and result.revision == 0 and result.continue_token == ""

    async def test_create_sets_resource_version_and_get_returns_it(self, store: Store) -> None:
        created = await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        assert created["metadata"]["resourceVersion"] == "1"
        assert body(created) == pod("ns", "a", nodeName="n1")
        assert await store.get(pod_key("ns", "a")) == created
        assert await store.current_revision() == 1

    async def test_create_ignores_a_resource_version_in_the_body(self, store: Store) -> None:
        obj = pod("ns", "a")
        obj["metadata"]["resourceVersion"] = "999"
        created = await store.create(pod_key("ns", "a"), obj)
        assert created["metadata"]["resourceVersion"] == "1"

    async def test_store_copies_objects_in_and_out(self, store: Store) -> None:
        obj = pod("ns", "a", labels={"app": "web"})
        created = await store.create(pod_key("ns", "a"), obj)
        assert "resourceVersion" not in obj["metadata"], "the caller's dict must not be modified"
        obj["metadata"]["labels"]["app"] = "changed-after-create"
        created["metadata"]["labels"]["app"] = "changed-after-return"
        got = await store.get(pod_key("ns", "a"))
        got["spec"]["mutated"] = True
        again = await store.get(pod_key("ns", "a"))
        assert again["metadata"]["labels"] == {"app": "web"}
        assert "mutated" not in again["spec"]

    async def test_create_existing_key_is_already_exists_and_changes_nothing(self, store: Store) -> None:
        first = await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        with pytest.raises(errors.AlreadyExists) as info:
            await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"))
        assert info.value.code == 409
        assert await store.get(pod_key("ns", "a")) == first
        assert await store.current_revision() == 1

    async def test_get_missing_is_not_found(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
        with pytest.raises(errors.NotFound) as info:
            await store.get(pod_key("ns", "b"))
        assert info.value.code == 404

    # -- update ----------------------------------------------------------------------

    async def test_update_replaces_the_object_with_a_new_revision(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        updated = await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"))
        assert rv(updated) == 2
        assert updated["spec"] == {"nodeName": "n2"}
        assert await store.get(pod_key("ns", "a")) == updated

    async def test_update_missing_is_not_found(self, store: Store) -> None:
        with pytest.raises(errors.NotFound):
            await store.update(pod_key("ns", "a"), pod("ns", "a"))
        assert await store.current_revision() == 0

    async def test_update_with_stale_expected_rv_is_conflict(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        current = await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"))
        with pytest.raises(errors.Conflict) as info:
            await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n3"), expected_rv="1")
        assert info.value.code == 409
        assert await store.get(pod_key("ns", "a")) == current
        assert await store.current_revision() == 2

    async def test_update_with_current_expected_rv_succeeds(self, store: Store) -> None:
        created = await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        updated = await store.update(
            pod_key("ns", "a"), pod("ns", "a", nodeName="n2"), expected_rv=created["metadata"]["resourceVersion"]
        )
        assert rv(updated) == 2

    async def test_update_without_expected_rv_ignores_the_body_resource_version(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"))
        stale = pod("ns", "a", nodeName="n3")
        stale["metadata"]["resourceVersion"] = "1"
        updated = await store.update(pod_key("ns", "a"), stale)
        assert rv(updated) == 3 and updated["spec"] == {"nodeName": "n3"}

    async def test_noop_update_keeps_revision_and_emits_no_event(self, store: Store) -> None:
        created = await store.create(pod_key("ns", "a"), pod("ns", "a", labels={"x": "1"}, nodeName="n1"))
        async with watching(store, PODS, 1) as events:
            same = await store.update(pod_key("ns", "a"), pod("ns", "a", labels={"x": "1"}, nodeName="n1"))
            assert same == created
            again = await store.update(pod_key("ns", "a"), created, expected_rv="1")
            assert again == created
            assert await store.current_revision() == 1
            marker = await store.create(pod_key("ns", "marker"), pod("ns", "marker"))
            [event] = await next_events(events, 1)
            assert event.key == pod_key("ns", "marker") and event.revision == rv(marker) == 2

    async def test_noop_update_ignores_key_order(self, store: Store) -> None:
        created = await store.create(pod_key("ns", "a"), {"kind": "Pod", "metadata": {"name": "a"}, "spec": {"x": 1, "y": 2}})
        reordered = {"spec": {"y": 2, "x": 1}, "metadata": {"name": "a"}, "kind": "Pod"}
        assert rv(await store.update(pod_key("ns", "a"), reordered)) == rv(created)

    async def test_noop_update_with_stale_expected_rv_is_still_conflict(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"))
        with pytest.raises(errors.Conflict):
            await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"), expected_rv="1")

    # -- delete ----------------------------------------------------------------------

    async def test_delete_returns_last_object_with_the_delete_revision(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        await store.create(pod_key("ns", "b"), pod("ns", "b"))
        deleted = await store.delete(pod_key("ns", "a"))
        assert rv(deleted) == 3 and body(deleted) == pod("ns", "a", nodeName="n1")
        with pytest.raises(errors.NotFound):
            await store.get(pod_key("ns", "a"))
        assert await store.current_revision() == 3

    async def test_delete_missing_is_not_found(self, store: Store) -> None:
        with pytest.raises(errors.NotFound):
            await store.delete(pod_key("ns", "a"))

    async def test_delete_with_stale_expected_rv_is_conflict(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
        await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        with pytest.raises(errors.Conflict):
            await store.delete(pod_key("ns", "a"), expected_rv="1")
        assert rv(await store.get(pod_key("ns", "a"))) == 2
        assert rv(await store.delete(pod_key("ns", "a"), expected_rv="2")) == 3

    async def test_recreate_after_delete_gets_a_new_revision(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
        await store.delete(pod_key("ns", "a"))
        again = await store.create(pod_key("ns", "a"), pod("ns", "a"))
        assert rv(again) == 3

    async def test_revision_is_global_and_monotonic_across_keys(self, store: Store) -> None:
        seen = []
        for i in range(5):
            seen.append(rv(await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))))
            seen.append(rv(await store.create(f"/registry/core/configmaps/ns/c{i}", {"kind": "ConfigMap", "metadata": {"name": f"c{i}"}})))
        seen.append(rv(await store.update(pod_key("ns", "p0"), pod("ns", "p0", nodeName="n"))))
        seen.append(rv(await store.delete("/registry/core/configmaps/ns/c0")))
        assert seen == list(range(1, 13))
        assert await store.current_revision() == 12

    # -- list ------------------------------------------------------------------------

    async def test_list_prefix_does_not_cross_into_a_longer_name(self, store: Store) -> None:
        await store.create(pod_key("ns1", "a"), pod("ns1", "a"))
        await store.create(pod_key("ns10", "b"), pod("ns10", "b"))
        await store.create("/registry/core/podsx/ns1/c", {"kind": "X", "metadata": {"name": "c"}})
        await store.create("/registry/core/pod/ns1/d", {"kind": "X", "metadata": {"name": "d"}})
        names = [o["metadata"]["name"] for o in (await store.list(PODS)).items]
        assert names == ["a", "b"]
        assert [o["metadata"]["name"] for o in (await store.list(f"{PODS}ns1/")).items] == ["a"]
        assert [o["metadata"]["name"] for o in (await store.list("/registry/core/podsx/")).items] == ["c"]

    async def test_list_is_in_key_order_at_the_current_revision(self, store: Store) -> None:
        for name in ["c", "a", "b"]:
            await store.create(pod_key("ns", name), pod("ns", name))
        await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n"))
        result = await store.list(PODS)
        assert [o["metadata"]["name"] for o in result.items] == ["a", "b", "c"]
        assert [rv(o) for o in result.items] == [4, 3, 1]
        assert result.revision == 4 and result.continue_token == ""

    @pytest.mark.parametrize(
        ("selector", "expected"),
        [
            ("", ["p1", "p2", "p3", "p4"]),
            ("app=web", ["p1", "p2"]),
            ("app==web", ["p1", "p2"]),
            ("app!=web", ["p3", "p4"]),
            ("app in (web,db)", ["p1", "p2", "p3"]),
            ("app notin (web)", ["p3", "p4"]),
            ("tier", ["p1", "p2"]),
            ("!tier", ["p3", "p4"]),
            ("app=web,tier=back", ["p2"]),
            ("app=nothing", []),
        ],
    )
    async def test_list_with_label_selector(self, store: Store, selector: str, expected: list[str]) -> None:
        labels: dict[str, dict[str, str] | None] = {
            "p1": {"app": "web", "tier": "front"},
            "p2": {"app": "web", "tier": "back"},
            "p3": {"app": "db"},
            "p4": None,
        }
        for name, lbl in labels.items():
            await store.create(pod_key("ns", name), pod("ns", name, labels=lbl))
        result = await store.list(PODS, label_selector=selectors.parse_label_selector(selector))
        assert [o["metadata"]["name"] for o in result.items] == expected
        assert result.revision == 4

    @pytest.mark.parametrize(
        ("selector", "expected"),
        [
            ("metadata.name=p1", ["p1"]),
            ("metadata.namespace=ns2", ["p3"]),
            ("metadata.namespace!=ns2", ["p1", "p2"]),
            ("spec.nodeName=node-a", ["p1", "p3"]),
            ("spec.nodeName=", ["p2"]),
            ("status.phase=Running", ["p1"]),
            ("status.phase!=Running", ["p2", "p3"]),
            ("metadata.namespace==ns1,spec.nodeName=node-a", ["p1"]),
        ],
    )
    async def test_list_with_field_selector(self, store: Store, selector: str, expected: list[str]) -> None:
        p1 = pod("ns1", "p1", nodeName="node-a")
        p1["status"] = {"phase": "Running"}
        p2 = pod("ns1", "p2")
        p2["status"] = {"phase": "Pending"}
        p3 = pod("ns2", "p3", nodeName="node-a")
        for obj in (p1, p2, p3):
            await store.create(pod_key(obj["metadata"]["namespace"], obj["metadata"]["name"]), obj)
        result = await store.list(PODS, field_selector=selectors.parse_field_selector(selector))
        assert [o["metadata"]["name"] for o in result.items] == expected

    async def test_list_events_by_involved_object_kind(self, store: Store) -> None:
        for name, kind in [("e1", "Pod"), ("e2", "Node"), ("e3", "Pod")]:
            await store.create(
                f"/registry/core/events/ns/{name}",
                {"kind": "Event", "metadata": {"name": name}, "involvedObject": {"kind": kind, "name": "x"}},
            )
        sel = selectors.parse_field_selector("involvedObject.kind=Pod")
        result = await store.list("/registry/core/events/", field_selector=sel)
        assert [o["metadata"]["name"] for o in result.items] == ["e1", "e3"]

    async def test_list_pages_with_limit_and_continue(self, store: Store) -> None:
        for i in range(10):
            await store.create(pod_key("ns", f"p{i:02d}"), pod("ns", f"p{i:02d}"))
        pages: list[list[str]] = []
        token = ""
        revisions = set()
        while True:
            result = await store.list(PODS, limit=3, continue_token=token)
            pages.append([o["metadata"]["name"] for o in result.items])
            revisions.add(result.revision)
            token = result.continue_token
            if not token:
                break
            assert len(result.items) == 3
            if result.remaining is not None:
                assert result.remaining == 10 - sum(len(p) for p in pages)
        assert [n for p in pages for n in p] == [f"p{i:02d}" for i in range(10)]
        assert pages[:4] == [["p00", "p01", "p02"], ["p03", "p04", "p05"], ["p06", "p07", "p08"], ["p09"]]
        assert revisions == {10}

    async def test_list_limit_equal_to_size_needs_no_continue(self, store: Store) -> None:
        for i in range(3):
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        first = await store.list(PODS, limit=3)
        assert len(first.items) == 3
        if first.continue_token:  # a backend may return an empty last page, never more items
            rest = await store.list(PODS, limit=3, continue_token=first.continue_token)
            assert rest.items == [] and rest.continue_token == ""

    async def test_list_pages_count_only_matching_items(self, store: Store) -> None:
        for i in range(20):
            await store.create(pod_key("ns", f"p{i:02d}"), pod("ns", f"p{i:02d}", labels={"app": "a" if i % 2 == 0 else "b"}))
        sel = selectors.parse_label_selector("app=a")
        names: list[str] = []
        token = ""
        while True:
            result = await store.list(PODS, label_selector=sel, limit=3, continue_token=token)
            token = result.continue_token
            names.extend(o["metadata"]["name"] for o in result.items)
            if not token:
                break
            assert len(result.items) == 3, "a page with more to come is full"
        assert names == [f"p{i:02d}" for i in range(0, 20, 2)]

    @pytest.mark.parametrize("token", ["%%%not-base64", "bm90LWpzb24", "eyJydiI6MX0", "W10"])
    async def test_list_malformed_continue_is_bad_request(self, store: Store, token: str) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
        with pytest.raises(errors.BadRequest) as info:
            await store.list(PODS, limit=1, continue_token=token)
        assert info.value.code == 400

    async def test_list_continue_from_another_collection_is_bad_request(self, store: Store) -> None:
        for name in ("a", "b"):
            await store.create(pod_key("ns", name), pod("ns", name))
            await store.create(f"/registry/core/secrets/ns/{name}", {"kind": "Secret", "metadata": {"name": name}})
        token = (await store.list("/registry/core/secrets/", limit=1)).continue_token
        assert token
        with pytest.raises(errors.BadRequest):
            await store.list(PODS, limit=1, continue_token=token)

    async def test_list_continue_is_gone_after_compaction(self, store: Store) -> None:
        for i in range(4):
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        first = await store.list(PODS, limit=2)
        assert first.continue_token
        for i in range(4, 6):
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        await store.compact(await store.current_revision())
        with pytest.raises(errors.Gone) as info:
            await store.list(PODS, limit=2, continue_token=first.continue_token)
        assert info.value.code == 410
        assert info.value.message.startswith("The provided continue parameter is too old")

    # -- watch -----------------------------------------------------------------------

    async def test_watch_replays_history_then_follows_live_changes(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
        await store.create(pod_key("ns", "b"), pod("ns", "b"))
        await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
        async with watching(store, PODS, 1) as events:
            history = await next_events(events, 2)
            assert [(e.type, e.key, e.revision) for e in history] == [
                ("ADDED", pod_key("ns", "b"), 2),
                ("MODIFIED", pod_key("ns", "a"), 3),
            ]
            await store.delete(pod_key("ns", "b"))
            await store.create(pod_key("ns", "c"), pod("ns", "c"))
            live = await next_events(events, 2)
            assert [(e.type, e.key, e.revision) for e in live] == [
                ("DELETED", pod_key("ns", "b"), 4),
                ("ADDED", pod_key("ns", "c"), 5),
            ]
            assert all(rv(e.object) == e.revision for e in history + live)

    async def test_watch_events_carry_objects_before_and_after(self, store: Store) -> None:
        async with watching(store, PODS, 0) as events:
            await store.create(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"))
            await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"))
            await store.delete(pod_key("ns", "a"))
            added, modified, deleted = await next_events(events, 3)
        assert added.type == "ADDED" and added.prev_object is None and added.object["spec"] == {"nodeName": "n1"}
        assert modified.type == "MODIFIED" and modified.object["spec"] == {"nodeName": "n2"}
        assert modified.prev_object is not None and modified.prev_object["spec"] == {"nodeName": "n1"}
        assert rv(modified.prev_object) == 1
        assert deleted.type == "DELETED" and deleted.revision == 3
        assert rv(deleted.object) == 3 and deleted.object["spec"] == {"nodeName": "n2"}

    async def test_watch_filters_by_prefix(self, store: Store) -> None:
        async with watching(store, f"{PODS}ns1/", 0) as events:
            await store.create(pod_key("ns10", "x"), pod("ns10", "x"))
            await store.create("/registry/core/configmaps/ns1/y", {"kind": "ConfigMap", "metadata": {"name": "y"}})
            await store.create(pod_key("ns1", "a"), pod("ns1", "a"))
            [event] = await next_events(events, 1)
        assert event.key == pod_key("ns1", "a") and event.revision == 3

    async def test_watch_since_zero_replays_all_retained_history(self, store: Store) -> None:
        for i in range(3):
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        async with watching(store, PODS, 0) as events:
            assert [e.revision for e in await next_events(events, 3)] == [1, 2, 3]

    async def test_watch_has_no_gaps_or_duplicates_when_writes_race_the_replay(self, store: Store) -> None:
        for i in range(5):
            await store.create(pod_key("ns", f"h{i}"), pod("ns", f"h{i}"))
        async with watching(store, PODS, 0) as events:
            first = await next_events(events, 2)
            for i in range(5):
                await store.create(pod_key("ns", f"l{i}"), pod("ns", f"l{i}"))
            rest = await next_events(events, 8)
            marker = await store.create(pod_key("ns", "zz-marker"), pod("ns", "zz-marker"))
            [last] = await next_events(events, 1)
        assert [e.revision for e in first + rest] == list(range(1, 11))
        assert last.revision == rv(marker) == 11

    async def test_long_replay_with_concurrent_writes_has_no_duplicates(self, store: Store) -> None:
        for i in range(600):
            await store.create(pod_key("ns", f"h{i:03d}"), pod("ns", f"h{i:03d}"))
        async with watching(store, PODS, 0) as events:
            seen = await next_events(events, 10)
            for i in range(5):
                await store.create(pod_key("ns", f"l{i}"), pod("ns", f"l{i}"))
            seen += await next_events(events, 595)
            await store.update(pod_key("ns", "h000"), pod("ns", "h000", nodeName="n"))
            seen += await next_events(events, 1)
        assert [e.revision for e in seen] == list(range(1, 607))
        assert seen[-1].type == "MODIFIED" and seen[-1].key == pod_key("ns", "h000")

    async def test_every_watcher_gets_every_event(self, store: Store) -> None:
        async with watching(store, PODS, 0) as w1, watching(store, PODS, 0) as w2:
            for i in range(3):
                await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
            got1 = [e.revision for e in await next_events(w1, 3)]
            got2 = [e.revision for e in await next_events(w2, 3)]
        assert got1 == got2 == [1, 2, 3]

    async def test_watch_from_a_compacted_revision_is_gone(self, store: Store) -> None:
        for i in range(5):
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        await store.compact(3)
        assert await store.compacted_revision() == 3
        with pytest.raises(errors.Gone) as info:
            async with watching(store, PODS, 2) as events:
                await next_events(events, 1)
        assert info.value.code == 410
        assert info.value.message.startswith("too old resource version: 2")
        async with watching(store, PODS, 3) as events:
            assert [e.revision for e in await next_events(events, 2)] == [4, 5]

    async def test_compaction_never_moves_back(self, store: Store) -> None:
        for i in range(4):
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        await store.compact(3)
        await store.compact(2)
        assert await store.compacted_revision() == 3
        assert len((await store.list(PODS)).items) == 4, "compaction keeps the current state"

    async def test_concurrent_creates_get_distinct_revisions_seen_once(self, store: Store) -> None:
        start = await store.current_revision()
        async with watching(store, PODS, start) as events:
            created = await asyncio.gather(
                *(store.create(pod_key("ns", f"p{i:03d}"), pod("ns", f"p{i:03d}")) for i in range(200))
            )
            seen = await next_events(events, 200)
            marker = await store.create(pod_key("ns", "zz-marker"), pod("ns", "zz-marker"))
            [after] = await next_events(events, 1)
        assert sorted(rv(o) for o in created) == list(range(start + 1, start + 201))
        assert [e.revision for e in seen] == list(range(start + 1, start + 201))
        assert sorted(e.key for e in seen) == sorted(pod_key("ns", f"p{i:03d}") for i in range(200))
        assert after.revision == rv(marker) == start + 201

    async def test_watch_ends_when_the_store_closes(self, store: Store) -> None:
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
        events = store.watch(PODS, 1)

        async def drain() -> list[WatchEvent]:
            return [e async for e in events]

        task = asyncio.create_task(drain())
        await asyncio.sleep(0.05)
        assert not task.done()
        await store.close()
        assert await asyncio.wait_for(task, TIMEOUT) == []

    async def test_reopen_keeps_objects_history_and_revision_counter(self, store: Store, reopen: Reopen) -> None:
        a = await store.create(pod_key("ns", "a"), pod("ns", "a", labels={"k": "v"}))
        await store.create(pod_key("ns", "b"), pod("ns", "b"))
        await store.delete(pod_key("ns", "b"))
        store2 = await reopen(store)
        assert await store2.current_revision() == 3
        assert await store2.get(pod_key("ns", "a")) == a
        assert [o["metadata"]["name"] for o in (await store2.list(PODS)).items] == ["a"]
        async with watching(store2, PODS, 1) as events:
            replay = await next_events(events, 2)
        assert [(e.type, e.revision) for e in replay] == [("ADDED", 2), ("DELETED", 3)]
        assert rv(await store2.create(pod_key("ns", "c"), pod("ns", "c"))) == 4
