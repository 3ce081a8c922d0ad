"""EtcdStore: the conformance suite on a real etcd, plus what is specific to etcd (two stores on
one etcd, restarts, compaction, an unreachable endpoint, URLs)."""

from __future__ import annotations

import asyncio
import itertools
import os
import pathlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from aetcd import rpc

from gitkube import errors
from gitkube.api import selectors
from gitkube.store import open_store
from gitkube.store.etcd import EtcdStore
from gitkube.testing.etcd import EtcdCluster, EtcdMember, etcd_binary, free_port, member_url

from .conformance import PODS, Reopen, StoreConformance, next_events, pod, pod_key, watching

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (apt-get install etcd-server)")

_names = itertools.count()


def unique_prefix() -> str:
    return f"/t{os.getpid()}-{next(_names)}"


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdMember]:
    """One etcd for the module: every test uses a key prefix of its own."""
    member = EtcdMember("shared", tmp_path_factory.mktemp("etcd") / "data")
    member.start()
    yield member
    member.kill()


@pytest.fixture
def own_etcd(tmp_path: pathlib.Path) -> Iterator[EtcdMember]:
    """An etcd of the test's own (for restarts and compaction of all of it)."""
    member = EtcdMember("own", tmp_path / "etcd")
    member.start()
    yield member
    member.kill()


@pytest.fixture
def url(etcd: EtcdMember) -> str:
    return member_url(etcd, unique_prefix())


@pytest.fixture
async def stores() -> AsyncIterator[list[EtcdStore]]:
    opened: list[EtcdStore] = []
    yield opened
    for s in opened:
        await s.close()


async def opened_store(url: str, stores: list[EtcdStore], **kw: object) -> EtcdStore:
    store = EtcdStore(url, **kw)
    await store.open()
    stores.append(store)
    return store


class TestEtcdConformance(StoreConformance):
    @pytest.fixture
    async def store(self, url: str, stores: list[EtcdStore]) -> EtcdStore:
        return await opened_store(url, stores)

    @pytest.fixture
    def reopen(self, url: str, stores: list[EtcdStore]) -> Reopen:
        async def _reopen(old: object) -> EtcdStore:
            assert isinstance(old, EtcdStore)
            await old.close()
            return await opened_store(url, stores)

        return _reopen


# -- two processes' view -------------------------------------------------------------


async def test_two_stores_on_one_etcd_see_each_others_writes(url: str, stores: list[EtcdStore]) -> None:
    one = await opened_store(url, stores)
    two = await opened_store(url, stores)
    async with watching(two, PODS, 0) as seen_by_two, watching(one, PODS, 0) as seen_by_one:
        a = await one.create(pod_key("ns", "a"), pod("ns", "a"))
        b = await two.create(pod_key("ns", "b"), pod("ns", "b"))
        updated = await two.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n1"), expected_rv="1")
        with pytest.raises(errors.Conflict):
            await one.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n2"), expected_rv="1")
        await one.delete(pod_key("ns", "b"))
        for events in (seen_by_one, seen_by_two):
            got = await next_events(events, 4)
            assert [(e.type, e.key, e.revision) for e in got] == [
                ("ADDED", pod_key("ns", "a"), 1), ("ADDED", pod_key("ns", "b"), 2),
                ("MODIFIED", pod_key("ns", "a"), 3), ("DELETED", pod_key("ns", "b"), 4)]
    assert (a["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"]) == ("1", "2")
    assert await one.get(pod_key("ns", "a")) == updated == await two.get(pod_key("ns", "a"))
    for s in (one, two):
        listed = await s.list(PODS)
        assert [o["metadata"]["name"] for o in listed.items] == ["a"] and listed.revision == 4
        assert await s.current_revision() == 4


async def test_stores_on_other_prefixes_do_not_see_each_other(etcd: EtcdMember, stores: list[EtcdStore]) -> None:
    one = await opened_store(member_url(etcd, unique_prefix()), stores)
    two = await opened_store(member_url(etcd, unique_prefix()), stores)
    await one.create(pod_key("ns", "a"), pod("ns", "a"))
    assert (await two.list(PODS)).items == []
    with pytest.raises(errors.NotFound):
        await two.get(pod_key("ns", "a"))
    await two.create(pod_key("ns", "a"), pod("ns", "a", nodeName="other"))
    assert (await one.get(pod_key("ns", "a")))["spec"] == {}


async def test_values_are_plain_json_without_resource_version(url: str, stores: list[EtcdStore]) -> None:
    store = await opened_store(url, stores)
    await store.create(pod_key("ns", "a"), pod("ns", "a"))
    raw_key = (store.address.prefix + pod_key("ns", "a")).encode()
    resp = await store._conn.range("test", rpc.RangeRequest(key=raw_key))
    assert resp.kvs[0].value == b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ns"},"spec":{}}'


async def test_list_pages_are_one_snapshot(url: str, stores: list[EtcdStore]) -> None:
    store = await opened_store(url, stores)
    for i in range(6):
        await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    first = await store.list(PODS, limit=3)
    await store.update(pod_key("ns", "p4"), pod("ns", "p4", nodeName="later"))
    await store.delete(pod_key("ns", "p5"))
    await store.create(pod_key("ns", "p6"), pod("ns", "p6"))
    second = await store.list(PODS, limit=3, continue_token=first.continue_token)
    assert [o["metadata"]["name"] for o in second.items] == ["p3", "p4", "p5"]
    assert second.items[1]["spec"] == {} and second.revision == first.revision == 6
    assert second.remaining == 0 and second.continue_token == ""


async def test_large_list_crosses_read_chunks(url: str, stores: list[EtcdStore]) -> None:
    store = await opened_store(url, stores)
    await asyncio.gather(*(store.create(pod_key("ns", f"p{i:04d}"), pod("ns", f"p{i:04d}", labels={"odd": str(i % 2)}))
                           for i in range(1200)))
    assert len((await store.list(PODS)).items) == 1200
    odd = await store.list(PODS, label_selector=selectors.parse_label_selector("odd=1"), limit=550)
    assert len(odd.items) == 550 and odd.continue_token and odd.remaining is None
    rest = await store.list(PODS, label_selector=selectors.parse_label_selector("odd=1"), limit=550,
                            continue_token=odd.continue_token)
    assert len(rest.items) == 50 and rest.continue_token == ""
    paged = await store.list(PODS, limit=700)
    assert paged.remaining == 500


# -- restarts, compaction, unreachable etcd -----------------------------------------


async def test_watch_survives_an_etcd_restart_without_gap(own_etcd: EtcdMember, stores: list[EtcdStore]) -> None:
    store = await opened_store(member_url(own_etcd, "/x"), stores, timeout=1.5)
    async with watching(store, PODS, 0) as events:
        await store.create(pod_key("ns", "before"), pod("ns", "before"))
        [first] = await next_events(events, 1)
        pending = asyncio.ensure_future(anext(events))  # the watch is waiting when etcd goes away
        await asyncio.sleep(0.1)
        await asyncio.to_thread(own_etcd.stop)
        with pytest.raises(errors.StoreError, match=own_etcd.endpoint):
            await asyncio.wait_for(store.create(pod_key("ns", "lost"), pod("ns", "lost")), 10)
        assert not pending.done()
        await asyncio.to_thread(own_etcd.start)
        other = await opened_store(member_url(own_etcd, "/x"), stores)  # another process writes
        await other.create(pod_key("ns", "after"), pod("ns", "after"))
        await store.update(pod_key("ns", "after"), pod("ns", "after", nodeName="n"))
        second = await asyncio.wait_for(pending, 10)
        [third] = await next_events(events, 1)
    assert [(e.type, e.key, e.revision) for e in (first, second, third)] == [
        ("ADDED", pod_key("ns", "before"), 1), ("ADDED", pod_key("ns", "after"), 2),
        ("MODIFIED", pod_key("ns", "after"), 3)]


async def test_compaction_during_an_outage_is_gone_for_the_watcher(own_etcd: EtcdMember, stores: list[EtcdStore]) -> None:
    store = await opened_store(member_url(own_etcd), stores)
    async with watching(store, PODS, 0) as events:
        await store.create(pod_key("ns", "p0"), pod("ns", "p0"))
        [first] = await next_events(events, 1)  # the watch now rests after revision 1
        await asyncio.to_thread(own_etcd.kill)
        await asyncio.to_thread(own_etcd.start)
        other = await opened_store(member_url(own_etcd), stores)
        for i in range(1, 4):
            await other.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        await other.compact(3)
        with pytest.raises(errors.Gone, match=r"too old resource version: 1 \(3\)"):
            await next_events(events, 1)
    assert first.revision == 1
    assert await store.compacted_revision() == 3
    with pytest.raises(errors.Gone, match=r"too old resource version: 2 \(3\)"):
        async with watching(store, PODS, 2) as events:
            await next_events(events, 1)
    async with watching(store, PODS, 3) as events:
        [event] = await next_events(events, 1)
    assert (event.key, event.revision) == (pod_key("ns", "p3"), 4)


async def test_etcd_compaction_behind_the_stores_back_is_gone(own_etcd: EtcdMember, stores: list[EtcdStore]) -> None:
    store = await opened_store(member_url(own_etcd), stores)
    for i in range(4):
        await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    etcd_revision = store._require().etcd_revision(3)
    await store._conn.compact(etcd_revision)  # as `etcdctl compact` or etcd's auto-compaction would
    with pytest.raises(errors.Gone, match="too old resource version: 1"):
        async with watching(store, PODS, 1) as events:
            await next_events(events, 1)


async def test_unreachable_endpoint_is_a_quick_store_error() -> None:
    port = free_port()
    store = EtcdStore(f"etcd://127.0.0.1:{port}/x", dial_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(errors.StoreError, match=f"127.0.0.1:{port}"):
        await store.open()
    assert time.monotonic() - started < 3.0
    with pytest.raises(errors.StoreError, match="not open"):
        await store.get(pod_key("ns", "a"))


async def test_writes_to_a_stopped_etcd_fail_within_the_timeout(own_etcd: EtcdMember, stores: list[EtcdStore]) -> None:
    store = await opened_store(member_url(own_etcd), stores, timeout=1.0)
    await store.create(pod_key("ns", "a"), pod("ns", "a"))
    own_etcd.pause()  # SIGSTOP: the connection stays open but nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(errors.StoreError, match=rf"{own_etcd.endpoint}.*no answer within 1s"):
            await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n"))
        assert time.monotonic() - started < 3.0
    finally:
        own_etcd.resume()
    assert (await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n")))["metadata"]["resourceVersion"] == "2"


async def test_auto_compaction_keeps_history(url: str, stores: list[EtcdStore]) -> None:
    store = await opened_store(url, stores, history=10)
    for i in range(12):
        await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    deadline = time.monotonic() + 5
    while await store.compacted_revision() == 0:
        assert time.monotonic() < deadline, "no automatic compaction"
        await asyncio.sleep(0.02)
    assert await store.compacted_revision() == 2
    with pytest.raises(errors.Gone):
        async with watching(store, PODS, 1) as events:
            await next_events(events, 1)


async def test_store_closed_during_a_write_is_a_store_error(url: str, stores: list[EtcdStore]) -> None:
    store = await opened_store(url, stores)
    await store.close()
    with pytest.raises(errors.StoreError, match="not open"):
        await store.create(pod_key("ns", "a"), pod("ns", "a"))
    await store.open()  # opening again works
    assert (await store.create(pod_key("ns", "a"), pod("ns", "a")))["metadata"]["resourceVersion"] == "1"


# -- URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoints", "prefix"),
    [
        ("etcd://127.0.0.1:2379", ("127.0.0.1:2379",), ""),
        ("etcd://localhost", ("localhost:2379",), ""),
        ("etcd://a:1,b:2/gitkube/", ("a:1", "b:2"), "/gitkube"),
        ("etcd://[::1]:23/p", ("[::1]:23",), "/p"),
        ("etcd://h:9/", ("h:9",), ""),
    ],
)
def test_open_store_etcd_urls(tmp_path: pathlib.Path, url: str, endpoints: tuple[str, ...], prefix: str) -> None:
    store = open_store(url, tmp_path, history=50)
    assert isinstance(store, EtcdStore)
    assert store.address.endpoints == endpoints and store.address.prefix == prefix and store.history == 50


@pytest.mark.parametrize("url", ["etcd://", "etcd://h:0", "etcd://h:x", "etcd://::1", "etcds://h:1", "etcd://h:1,/p"])
def test_bad_etcd_urls_are_config_errors(tmp_path: pathlib.Path, url: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        open_store(url, tmp_path)
    assert repr(url) in str(info.value)


# -- a three-member cluster ----------------------------------------------------------


async def test_losing_one_of_three_members_changes_nothing_visible(tmp_path: pathlib.Path,
                                                                   stores: list[EtcdStore]) -> None:
    with EtcdCluster(tmp_path / "cluster", 3) as cluster:
        store = await opened_store(cluster.url("/ha"), stores)
        async with watching(store, PODS, 0) as events:
            await store.create(pod_key("ns", "a"), pod("ns", "a"))
            [first] = await next_events(events, 1)
            await asyncio.to_thread(cluster.members[0].kill)  # the member the channel picked first
            started = time.monotonic()
            b = await store.create(pod_key("ns", "b"), pod("ns", "b"))
            await store.update(pod_key("ns", "a"), pod("ns", "a", nodeName="n"))
            failover = time.monotonic() - started
            rest = await next_events(events, 2)
        listed = await store.list(PODS)
    assert [(e.type, e.revision) for e in [first, *rest]] == [("ADDED", 1), ("ADDED", 2), ("MODIFIED", 3)]
    assert b["metadata"]["resourceVersion"] == "2" and [o["metadata"]["name"] for o in listed.items] == ["a", "b"]
    assert failover < 5.0
