"""Secrets encrypted at rest: raw SQLite rows hold no plaintext, the API sees plaintext, the
Store contract holds through the wrapper, identical writes stay no-ops."""

from __future__ import annotations

import base64
import json
import pathlib
import sqlite3
import stat
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gitkube import errors
from gitkube.apiserver import pki
from gitkube.apiserver.encryption import PREFIX, EncryptedStore, ensure_key
from gitkube.apiserver.server import APIServer
from gitkube.client import Client, HTTPTransport
from gitkube.store import SqliteStore
from tests.unit.store.conformance import Reopen, StoreConformance, next_events, watching

PLAIN = "hunter2-at-rest-canary"
B64 = base64.b64encode(PLAIN.encode()).decode()
KEY = "/registry/core/secrets/shop/db"


def secret(value: str = B64, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                         json.dumps({"stringData": {"password": PLAIN}}), "team": "a"}},
            "data": {"password": value}, **extra}


def raw_rows(path: pathlib.Path) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT key, value FROM objects").fetchall()
        rows += conn.execute("SELECT key, value || coalesce(prev_value, '') FROM events").fetchall()
    return "\n".join(f"{k} {v}" for k, v in rows)


def assert_no_plaintext(path: pathlib.Path) -> None:
    for name in (path, path.with_name(path.name + "-wal")):
        if name.exists():
            data = name.read_bytes()
            assert PLAIN.encode() not in data and B64.encode() not in data


@pytest.fixture
async def enc(tmp_path: pathlib.Path) -> AsyncIterator[EncryptedStore]:
    store = EncryptedStore(SqliteStore(tmp_path / "state.db"), ensure_key(tmp_path))
    await store.open()
    yield store
    await store.close()


def test_key_file_is_made_once_0600(tmp_path: pathlib.Path) -> None:
    key = ensure_key(tmp_path)
    path = tmp_path / "pki" / "encryption.key"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key(tmp_path) == key
    path.write_text("c2hvcnQ=\n")
    with pytest.raises(errors.ConfigError, match="32 bytes"):
        ensure_key(tmp_path)


async def test_raw_rows_hold_no_plaintext_and_reads_are_plaintext(enc: EncryptedStore, tmp_path: pathlib.Path) -> None:
    created = await enc.create(KEY, secret())
    assert created["data"] == {"password": B64}
    assert created["metadata"]["annotations"]["team"] == "a"
    assert PLAIN in created["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    await enc.update(KEY, secret(base64.b64encode(b"other").decode()))
    rows = raw_rows(tmp_path / "state.db")
    assert PLAIN not in rows and B64 not in rows and PREFIX in rows
    assert '"team":"a"' in rows and '"labels":{"app":"db"}' in rows  # metadata stays in the clear
    assert (await enc.get(KEY))["data"]["password"] == base64.b64encode(b"other").decode()
    listed = await enc.list("/registry/core/secrets/")
    assert listed.items[0]["data"]["password"] == base64.b64encode(b"other").decode()
    everything = await enc.list("/registry/")
    assert everything.items[0]["data"]["password"] == base64.b64encode(b"other").decode()
    deleted = await enc.delete(KEY)
    assert deleted["data"]["password"] == base64.b64encode(b"other").decode()
    await enc.close()
    assert_no_plaintext(tmp_path / "state.db")


async def test_identical_write_is_still_a_no_op(enc: EncryptedStore) -> None:
    created = await enc.create(KEY, secret())
    rev = await enc.current_revision()
    same = await enc.update(KEY, secret())
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert await enc.current_revision() == rev
    await enc.update(KEY, secret("b3RoZXI="))
    assert await enc.current_revision() == rev + 1


async def test_watches_decrypt(enc: EncryptedStore) -> None:
    async with watching(enc, "/registry/core/secrets/", 0) as it:
        await enc.create(KEY, secret())
        await enc.update(KEY, secret("b3RoZXI="))
        added, modified = await next_events(it, 2)
    assert added.object["data"]["password"] == B64
    assert modified.object["data"]["password"] == "b3RoZXI=" and modified.prev_object is not None
    assert modified.prev_object["data"]["password"] == B64
    feed = enc.watch_changes("/registry/", 0)
    try:
        first = await feed.__anext__()
        second = await feed.__anext__()
    finally:
        await feed.aclose()
    assert first.object["data"]["password"] == B64 and PLAIN in first.value
    assert second.prev_object["data"]["password"] == B64


async def test_other_kinds_pass_through_and_old_plain_rows_still_read(tmp_path: pathlib.Path) -> None:
    inner = SqliteStore(tmp_path / "state.db")
    await inner.open()
    await inner.create(KEY, secret())  # written before encryption was turned on
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}, "data": {"k": "v"}}
    await inner.create("/registry/core/configmaps/shop/c", cm)
    enc = EncryptedStore(inner, ensure_key(tmp_path))
    assert (await enc.get(KEY))["data"]["password"] == B64
    assert (await enc.get("/registry/core/configmaps/shop/c"))["data"] == {"k": "v"}
    await enc.update(KEY, {**secret(), "immutable": False})
    assert PREFIX in json.dumps(await inner.get(KEY))
    assert "v" == (await inner.get("/registry/core/configmaps/shop/c"))["data"]["k"]
    # A row under another key, or another data dir's key, does not decrypt.
    other = EncryptedStore(inner, b"\x01" * 32)
    with pytest.raises(errors.StoreError, match="does not decrypt"):
        await other.get(KEY)
    stolen = await inner.get(KEY)
    await inner.create("/registry/core/secrets/shop/copy", stolen)
    with pytest.raises(errors.StoreError, match="does not decrypt"):
        await enc.get("/registry/core/secrets/shop/copy")
    await inner.close()


async def test_through_the_api_server(tmp_path: pathlib.Path) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    creds = pki.ensure_credentials(tmp_path)
    store = EncryptedStore(SqliteStore(tmp_path / "state.db"), ensure_key(tmp_path))
    server = APIServer(store, creds, tmp_path, port=0)
    await server.start()
    client = Client(HTTPTransport(server.socket_url, creds.admin_token, user_agent="gitkube-test"),
                    field_manager="gitkube-test")
    try:
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        body = secret()
        del body["data"]
        body["stringData"] = {"password": PLAIN}
        await client.create("secrets", body, namespace="shop")
        got = await client.get("secrets", "db", namespace="shop")
        assert got["data"]["password"] == B64
        listed = await client.list("secrets", "shop")
        assert listed["items"][0]["data"]["password"] == B64
        rows = raw_rows(tmp_path / "state.db")
        assert PLAIN not in rows and B64 not in rows
    finally:
        await client.close()
        await server.stop()
    assert_no_plaintext(tmp_path / "state.db")


class TestEncryptedStoreConformance(StoreConformance):
    """The wrapper keeps the whole Store contract (it passes everything but Secrets through)."""

    @pytest.fixture
    def opened(self) -> list[EncryptedStore]:
        return []

    @pytest.fixture
    async def store(self, tmp_path: pathlib.Path, opened: list[EncryptedStore]) -> AsyncIterator[EncryptedStore]:
        store = EncryptedStore(SqliteStore(tmp_path / "state.db"), ensure_key(tmp_path))
        await store.open()
        opened.append(store)
        yield store
        for s in opened:
            await s.close()

    @pytest.fixture
    def reopen(self, tmp_path: pathlib.Path, opened: list[EncryptedStore]) -> Reopen:
        async def _reopen(old: object) -> EncryptedStore:
            assert isinstance(old, EncryptedStore)
            await old.close()
            new = EncryptedStore(SqliteStore(tmp_path / "state.db"), ensure_key(tmp_path))
            await new.open()
            opened.append(new)
            return new

        return _reopen
