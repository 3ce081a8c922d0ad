"""The release log and engine state round-trip through a real API server."""

from __future__ import annotations

from pathlib import Path

from gitkube.api.objectkey import ObjectKey
from gitkube.sync.releases import Release, ReleaseLog
from gitkube.testing import running_apiserver


async def test_release_log_round_trip(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "data") as (_, client):
        log = ReleaseLog(client)
        assert await log.entries() == [] and (await log.state()).commit == ""
        one = await log.start(Release(0, "a" * 40, "Dev", "first", "push"))
        await log.finish(one, "Synced")
        two = await log.start(Release(0, "b" * 40, "Dev", "second", "push"))
        await log.finish(two, "RolledBack", "crash loop")
        entries = await log.entries()
        assert [(r.number, r.outcome) for r in entries] == [(2, "RolledBack"), (1, "Synced")]
        assert entries[0].reason == "crash loop" and entries[0].duration is not None
        state = await log.state()
        state.commit, state.inventory = "a" * 40, {ObjectKey("apps", "Deployment", "x", f"d{i}") for i in range(3000)}
        await log.save_state(state)
        loaded = await log.state()
        assert loaded.commit == "a" * 40 and loaded.inventory == state.inventory
