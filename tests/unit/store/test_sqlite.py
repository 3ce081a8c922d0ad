"""SqliteStore: the conformance suite plus what is specific to the SQLite file."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import sqlite3
import stat
from collections.abc import AsyncIterator

import pytest

from gitkube import errors
from gitkube.store import SqliteStore, open_store

from .conformance import PODS, Reopen, StoreConformance, next_events, pod, pod_key, watching


class TestSqliteConformance(StoreConformance):
    @pytest.fixture
    def opened(self) -> list[SqliteStore]:
        return []

    @pytest.fixture
    async def store(self, tmp_path: pathlib.Path, opened: list[SqliteStore]) -> AsyncIterator[SqliteStore]:
        store = SqliteStore(tmp_path / "state.db")
        await store.open()
        opened.append(store)
        yield store
        for s in opened:
            await s.close()

    @pytest.fixture
    def reopen(self, tmp_path: pathlib.Path, opened: list[SqliteStore]) -> Reopen:
        async def _reopen(old: object) -> SqliteStore:
            assert isinstance(old, SqliteStore)
            await old.close()
            new = SqliteStore(tmp_path / "state.db")
            await new.open()
            opened.append(new)
            return new

        return _reopen


@pytest.fixture
async def db(tmp_path: pathlib.Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    yield store
    await store.close()


def raw(path: pathlib.Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- files ---------------------------------------------------------------------------


async def test_database_and_wal_files_are_private(db: SqliteStore) -> None:
    await db.create(pod_key("ns", "a"), pod("ns", "a"))
    for suffix in ("", "-wal", "-shm"):
        path = pathlib.Path(f"{db.path}{suffix}")
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))


async def test_journal_is_wal_and_schema_as_documented(db: SqliteStore) -> None:
    await db.create(pod_key("ns", "a"), pod("ns", "a"))
    conn = raw(db.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    row = conn.execute("SELECT key, value, mod_revision, create_revision FROM objects").fetchone()
    assert row[0] == pod_key("ns", "a") and row[2] == row[3] == 1
    assert json.loads(row[1])["metadata"]["resourceVersion"] == "1"
    assert ", " not in row[1], "values are compact JSON"
    assert conn.execute("SELECT revision, key, type, prev_value FROM events").fetchall() == [
        (1, pod_key("ns", "a"), "ADDED", None)
    ]
    await db.close()
    assert dict(conn.execute("SELECT name, value FROM meta")) == {"revision": 1, "compacted": 0, "schema": 1}
    conn.close()


async def test_not_a_database_is_a_store_error_naming_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not an SQLite database, just some text" * 100)
    store = SqliteStore(path)
    with pytest.raises(errors.StoreError, match=str(path)):
        await store.open()


async def test_missing_directory_is_a_store_error_naming_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "state.db"
    with pytest.raises(errors.StoreError, match="No such file or directory") as info:
        await SqliteStore(path).open()
    assert str(path) in str(info.value)


async def test_corrupt_value_is_a_store_error(db: SqliteStore) -> None:
    await db.create(pod_key("ns", "a"), pod("ns", "a"))
    conn = raw(db.path)
    conn.execute("UPDATE objects SET value = '{broken' WHERE key = ?", (pod_key("ns", "a"),))
    conn.close()
    with pytest.raises(errors.StoreError, match="not JSON"):
        await db.get(pod_key("ns", "a"))


async def test_unknown_schema_version_is_refused(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    await store.close()
    conn = raw(tmp_path / "state.db")
    conn.execute("UPDATE meta SET value = 99 WHERE name = 'schema'")
    conn.close()
    with pytest.raises(errors.StoreError, match="schema version 99"):
        await SqliteStore(tmp_path / "state.db").open()


async def test_use_before_open_or_after_close_is_a_store_error(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    with pytest.raises(errors.StoreError, match="not open"):
        await store.get(pod_key("ns", "a"))
    await store.open()
    await store.open()  # idempotent
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(errors.StoreError, match="not open"):
        await store.create(pod_key("ns", "a"), pod("ns", "a"))


# -- failed writes change nothing ----------------------------------------------------


async def test_disk_full_write_changes_nothing(db: SqliteStore) -> None:
    await db.create(pod_key("ns", "a"), pod("ns", "a"))
    assert db._conn is not None
    pages = db._conn.execute("PRAGMA page_count").fetchone()[0]
    db._conn.execute(f"PRAGMA max_page_count = {pages}")
    async with watching(db, PODS, 1) as events:
        big = pod("ns", "b", data="x" * 200_000)
        with pytest.raises(errors.StoreError, match=r"state\.db: create failed: database or disk is full"):
            await db.create(pod_key("ns", "b"), big)
        with pytest.raises(errors.StoreError, match="full"):
            await db.update(pod_key("ns", "a"), pod("ns", "a", data="y" * 200_000))
        assert await db.current_revision() == 1
        with pytest.raises(errors.NotFound):
            await db.get(pod_key("ns", "b"))
        assert (await db.get(pod_key("ns", "a")))["spec"] == {}
        db._conn.execute("PRAGMA max_page_count = 1073741823")
        ok = await db.create(pod_key("ns", "c"), pod("ns", "c"))
        [event] = await next_events(events, 1)
    assert ok["metadata"]["resourceVersion"] == "2" and event.revision == 2 and event.key == pod_key("ns", "c")


async def test_unserializable_object_is_internal_error_and_changes_nothing(db: SqliteStore) -> None:
    with pytest.raises(errors.InternalError, match="JSON"):
        await db.create(pod_key("ns", "a"), pod("ns", "a", bad={1, 2}))
    with pytest.raises(errors.InternalError, match="JSON"):
        await db.create(pod_key("ns", "a"), pod("ns", "a", bad=float("nan")))
    assert await db.current_revision() == 0
    with pytest.raises(errors.NotFound):
        await db.get(pod_key("ns", "a"))


# -- errors worded as Kubernetes words them ------------------------------------------


async def test_error_messages_and_details_name_the_resource(db: SqliteStore) -> None:
    with pytest.raises(errors.NotFound) as nf:
        await db.get("/registry/apps/deployments/default/web")
    assert nf.value.message == 'deployments.apps "web" not found'
    assert nf.value.to_status()["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    await db.create(pod_key("default", "web"), pod("default", "web"))
    with pytest.raises(errors.AlreadyExists) as ae:
        await db.create(pod_key("default", "web"), pod("default", "web"))
    assert ae.value.message == 'pods "web" already exists'
    with pytest.raises(errors.Conflict) as cf:
        await db.update(pod_key("default", "web"), pod("default", "web", x=1), expected_rv="7")
    assert cf.value.message == (
        'Operation cannot be fulfilled on pods "web": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    with pytest.raises(errors.NotFound) as other:
        await db.get("/odd/key")
    assert other.value.message == 'key "/odd/key" not found'


# -- revision counter ----------------------------------------------------------------


async def test_revision_counter_never_goes_back_even_if_meta_lags(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    for i in range(3):
        await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    await store.close()
    conn = raw(tmp_path / "state.db")
    conn.execute("UPDATE meta SET value = 1 WHERE name = 'revision'")
    conn.close()
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    assert await store.current_revision() == 3
    assert (await store.create(pod_key("ns", "x"), pod("ns", "x")))["metadata"]["resourceVersion"] == "4"
    await store.close()


async def test_revision_counter_is_recovered_from_the_log_without_close(tmp_path: pathlib.Path) -> None:
    writer = SqliteStore(tmp_path / "state.db")
    await writer.open()
    for i in range(3):
        await writer.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    await writer.delete(pod_key("ns", "p2"))
    await writer.compact(2)
    reader = SqliteStore(tmp_path / "state.db")  # as after kill -9: the writer never closed
    await reader.open()
    assert await reader.current_revision() == 4
    assert await reader.compacted_revision() == 2
    await reader.close()
    await writer.close()


async def test_revision_counter_survives_deleting_everything(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    await store.create(pod_key("ns", "a"), pod("ns", "a"))
    await store.delete(pod_key("ns", "a"))
    await store.compact(2)
    await store.close()
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    assert await store.current_revision() == 2
    assert await store.compacted_revision() == 2
    assert (await store.create(pod_key("ns", "a"), pod("ns", "a")))["metadata"]["resourceVersion"] == "3"
    await store.close()


# -- compaction and slow watchers ----------------------------------------------------


async def test_compact_keep_keeps_the_newest_events(db: SqliteStore) -> None:
    for i in range(10):
        await db.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    assert await db.compact_keep(4) == 6
    assert await db.compacted_revision() == 6
    async with watching(db, PODS, 6) as events:
        assert [e.revision for e in await next_events(events, 4)] == [7, 8, 9, 10]
    assert await db.compact_keep(100) == 6, "compaction never moves back"
    await db.compact(1000)
    assert await db.compacted_revision() == 10, "compaction stops at the current revision"


async def test_history_bounds_the_event_log(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db", history=5)
    await store.open()
    for i in range(11):
        await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    # compacts to "newest 5" whenever the log spans more than 5 + 1 revisions: at 7, 9 and 11
    assert await store.compacted_revision() == 6
    conn = raw(tmp_path / "state.db")
    assert [r for (r,) in conn.execute("SELECT revision FROM events ORDER BY revision")] == [7, 8, 9, 10, 11]
    conn.close()
    assert len((await store.list(PODS)).items) == 11
    await store.close()


async def test_zero_history_never_compacts_on_its_own(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db", history=0)
    await store.open()
    for i in range(30):
        await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
    assert await store.compacted_revision() == 0
    assert await store.compact_keep(10) == 20
    await store.close()


async def test_negative_history_is_a_config_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="-1"):
        SqliteStore(tmp_path / "state.db", history=-1)


async def test_compaction_during_replay_ends_the_watch_with_gone(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db", history=0)
    await store.open()
    for i in range(1200):  # more than one replay chunk
        await store.create(pod_key("ns", f"p{i:04d}"), pod("ns", f"p{i:04d}"))
    async with watching(store, PODS, 0) as events:
        assert (await next_events(events, 1))[0].revision == 1
        await store.compact(1100)
        with pytest.raises(errors.Gone, match="too old resource version"):
            await next_events(events, 1200)
    await store.close()


async def test_slow_watcher_overflow_ends_with_gone(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db", watch_capacity=5)
    await store.open()
    async with watching(store, PODS, 0) as slow, watching(store, PODS, 0) as fast:
        await store.create(pod_key("ns", "p0"), pod("ns", "p0"))
        await next_events(slow, 1)  # replayed from the log
        await store.create(pod_key("ns", "p1"), pod("ns", "p1"))
        await next_events(slow, 1)  # live: slow now follows the fan-out
        for i in range(2, 8):  # six more than slow reads: its buffer of 5 overflows
            await store.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}"))
        assert [e.revision for e in await next_events(fast, 8)] == list(range(1, 9))
        with pytest.raises(errors.Gone) as info:
            await next_events(slow, 6)
        assert info.value.code == 410
        await store.create(pod_key("ns", "p8"), pod("ns", "p8"))
        assert [e.revision for e in await next_events(fast, 1)] == [9], "others are unaffected"
    await store.close()


async def test_writes_outrunning_a_replay_are_read_from_the_log(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "state.db", watch_capacity=5)
    await store.open()
    for i in range(20):
        await store.create(pod_key("ns", f"h{i:02d}"), pod("ns", f"h{i:02d}"))
    async with watching(store, PODS, 0) as events:
        first = await next_events(events, 1)
        for i in range(10):  # overflows the live buffer while the watcher is still replaying
            await store.create(pod_key("ns", f"l{i}"), pod("ns", f"l{i}"))
        rest = await next_events(events, 29)
        await store.create(pod_key("ns", "zz"), pod("ns", "zz"))
        rest += await next_events(events, 1)
    assert [e.revision for e in first + rest] == list(range(1, 32))
    await store.close()


async def test_cancelled_watch_unsubscribes(db: SqliteStore) -> None:
    events = db.watch(PODS, 0)

    async def first() -> object:
        return await anext(events)

    task = asyncio.create_task(first())
    await asyncio.sleep(0.01)
    assert len(db._hub) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(db._hub) == 0


# -- continue tokens -----------------------------------------------------------------


async def test_continue_token_is_kubernetes_shaped(db: SqliteStore) -> None:
    for name in ("a", "b", "c"):
        await db.create(pod_key("ns", name), pod("ns", name))
    page = await db.list(PODS, limit=2)
    assert page.remaining == 1
    decoded = json.loads(base64.urlsafe_b64decode(page.continue_token + "=" * (-len(page.continue_token) % 4)))
    assert decoded == {"v": "meta.k8s.io/v1", "rv": 3, "start": pod_key("ns", "b")}
    assert "=" not in page.continue_token
    last = await db.list(PODS, limit=2, continue_token=page.continue_token)
    assert [o["metadata"]["name"] for o in last.items] == ["c"] and last.remaining == 0
    assert (await db.list(PODS)).remaining is None


async def test_later_pages_read_the_current_state(db: SqliteStore) -> None:
    for name in ("a", "b", "c"):
        await db.create(pod_key("ns", name), pod("ns", name))
    page = await db.list(PODS, limit=1)
    await db.create(pod_key("ns", "bb"), pod("ns", "bb"))
    await db.delete(pod_key("ns", "c"))
    rest = await db.list(PODS, continue_token=page.continue_token)
    assert [o["metadata"]["name"] for o in rest.items] == ["b", "bb"]
    assert rest.revision == 3, "later pages report the first page's revision"


async def test_filtered_pages_have_no_remaining_count(db: SqliteStore) -> None:
    for i in range(6):
        await db.create(pod_key("ns", f"p{i}"), pod("ns", f"p{i}", labels={"odd": str(i % 2)}))
    from gitkube.api import selectors

    page = await db.list(PODS, limit=2, label_selector=selectors.parse_label_selector("odd=1"))
    assert [o["metadata"]["name"] for o in page.items] == ["p1", "p3"]
    assert page.continue_token and page.remaining is None
    last = await db.list(
        PODS, limit=2, label_selector=selectors.parse_label_selector("odd=1"), continue_token=page.continue_token
    )
    assert [o["metadata"]["name"] for o in last.items] == ["p5"] and last.continue_token == ""


# -- open_store ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite", "DATA/state.db"),
        ("sqlite://", "DATA/state.db"),
        ("sqlite:///var/lib/gitkube/other.db", "/var/lib/gitkube/other.db"),
        ("sqlite://sub/x.db", "DATA/sub/x.db"),
    ],
)
def test_open_store_urls(tmp_path: pathlib.Path, url: str, expected: str) -> None:
    store = open_store(url, tmp_path)
    assert isinstance(store, SqliteStore)
    assert str(store.path) == expected.replace("DATA", str(tmp_path))
    assert store.history == 10_000
    tuned = open_store(url, tmp_path, history=50)
    assert isinstance(tuned, SqliteStore) and tuned.history == 50


@pytest.mark.parametrize("url", ["etcds://127.0.0.1:2379", "postgres://x", "", "sqlite:///dir/"])
def test_open_store_rejects_other_urls(tmp_path: pathlib.Path, url: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        open_store(url, tmp_path)
    assert repr(url) in str(info.value)


async def test_open_store_default_file_is_usable(tmp_path: pathlib.Path) -> None:
    store = open_store("sqlite", tmp_path)
    await store.open()
    await store.create(pod_key("ns", "a"), pod("ns", "a"))
    await store.close()
    assert (tmp_path / "state.db").exists()
    assert oct(os.stat(tmp_path / "state.db").st_mode & 0o777) == oct(0o600)
