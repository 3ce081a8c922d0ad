"""Informer indices: the per-namespace list and named indexers (``add_indexer``/``by_index``)
stay right through adds, updates that move an object between index values, and deletes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gitkube.client import Informer
from gitkube.testing import running_apiserver


def cm(name: str, owner: str = "") -> dict[str, Any]:
    labels = {"owner": owner} if owner else {}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def by_owner(obj: dict[str, Any]) -> list[str]:
    owner = ((obj.get("metadata") or {}).get("labels") or {}).get("owner")
    return [owner] if owner else []


def names(objs: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objs}


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_indices_follow_adds_moves_and_deletes(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        await client.create("configmaps", cm("a", "x"), "default")
        informer = Informer(client, "configmaps")
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.synced.wait(), 5)
            informer.add_indexer("owner", by_owner)  # after the cache filled: indexes what is there
            assert names(informer.by_index("owner", "x")) == {"a"}
            await client.create("configmaps", cm("b", "x"), "default")
            await client.create("configmaps", cm("c", "y"), "other")
            await eventually(lambda: len(informer.by_index("owner", "x")) == 2 and informer.by_index("owner", "y"))
            assert names(informer.list("default")) >= {"a", "b"} and "c" not in names(informer.list("default"))
            assert names(informer.list("other")) == {"c"}
            await client.patch("configmaps", "b", {"metadata": {"labels": {"owner": "y"}}}, "default")
            await eventually(lambda: names(informer.by_index("owner", "y")) == {"b", "c"})
            assert names(informer.by_index("owner", "x")) == {"a"}
            await client.delete("configmaps", "c", "other")
            await eventually(lambda: names(informer.by_index("owner", "y")) == {"b"})
            assert informer.list("other") == [] and informer.by_index("owner", "nobody") == []
            with pytest.raises(KeyError):
                informer.by_index("missing", "x")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
