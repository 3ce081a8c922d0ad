"""SqliteStore durability: a write that returned survives ``kill -9`` of the process.

A child process writes objects as fast as it can and prints ``written <i> <rv>`` after each
committed write; the parent kills it with SIGKILL mid-stream, reopens the file and checks that
every reported object is there, intact, and that the revision counter continues past them.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

from gitkube import errors
from gitkube.store import SqliteStore

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from gitkube.store import SqliteStore

    def payload(i):
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"cm{i:06d}", "namespace": "ns", "labels": {"i": str(i)}},
                "data": {"blob": f"{i}-" + "x" * (i % 700)}}

    async def main():
        store = SqliteStore(sys.argv[1])
        await store.open()
        i = 0
        while True:
            obj = await store.create(f"/registry/core/configmaps/ns/cm{i:06d}", payload(i))
            if i % 3 == 2:  # updates and deletes are committed writes too
                obj = await store.update(f"/registry/core/configmaps/ns/cm{i:06d}",
                                         {**payload(i), "data": {"blob": "updated"}})
            print("written", i, obj["metadata"]["resourceVersion"], obj["data"]["blob"][:8], flush=True)
            i += 1

    asyncio.run(main())
    """
)


def expected_blob(i: int) -> str:
    return "updated" if i % 3 == 2 else f"{i}-" + "x" * (i % 700)


async def test_committed_writes_survive_sigkill(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    reported: dict[int, int] = {}
    try:
        assert child.stdout is not None
        for line in child.stdout:
            word, index, revision, _ = line.split(" ", 3)
            assert word == "written"
            reported[int(index)] = int(revision)
            if len(reported) >= 1500:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    assert len(reported) >= 1500, err

    store = SqliteStore(path)
    await store.open()
    try:
        newest = max(reported.values())
        assert await store.current_revision() >= newest
        for i, rv in reported.items():
            obj = await store.get(f"/registry/core/configmaps/ns/cm{i:06d}")
            assert obj["metadata"]["resourceVersion"] == str(rv)
            assert obj["metadata"]["labels"] == {"i": str(i)}
            assert obj["data"]["blob"] == expected_blob(i)
        listed = await store.list("/registry/core/configmaps/ns/")
        assert len(listed.items) >= len(reported)
        for obj in listed.items:  # anything written but not yet reported is intact too
            i = int(obj["metadata"]["labels"]["i"])
            assert obj["data"]["blob"] in (expected_blob(i), f"{i}-" + "x" * (i % 700))
        after = await store.create("/registry/core/configmaps/ns/after", {"kind": "ConfigMap", "metadata": {"name": "after"}})
        assert int(after["metadata"]["resourceVersion"]) == await store.current_revision() > newest
        with pytest.raises(errors.AlreadyExists):
            await store.create("/registry/core/configmaps/ns/cm000000", {"kind": "ConfigMap", "metadata": {}})
    finally:
        await store.close()
