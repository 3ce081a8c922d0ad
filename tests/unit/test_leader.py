"""Leadership: the leader-only loops run in terms, are cancelled in order, and are rebuilt per term."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gitkube.client.leaderelection import ElectionConfig, LeaderElector
from gitkube.leader import Leadership, Loop
from gitkube.testing import running_apiserver

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "renew_interval": 0.2, "retry_period": 0.05}


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.builds = 0

    def loop(self, name: str, fail_after: float | None = None) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            self.events.append(f"start {name}")
            try:
                if fail_after is not None:
                    await asyncio.sleep(fail_after)
                    raise RuntimeError(f"{name} broke")
                await asyncio.Event().wait()
            finally:
                self.events.append(f"stop {name}")
        return run

    def build(self, fail_after: float | None = None) -> Callable[[], list[Loop]]:
        def build() -> list[Loop]:
            self.builds += 1
            return [("engine", self.loop("engine")), ("controllers", self.loop("controllers", fail_after))]
        return build


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout)


async def test_without_an_elector_it_always_leads_and_stops_in_order() -> None:
    rec = Recorder()
    leadership = Leadership("me", rec.build())
    assert leadership.is_leader and leadership.leader == "me"
    assert leadership.status() == {"identity": "me", "leader": "me", "isLeader": True, "election": "none"}
    task = asyncio.create_task(leadership.run())
    await until(lambda: len(rec.events) == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.events == ["start engine", "start controllers", "stop engine", "stop controllers"]


async def test_without_an_elector_a_crashed_loop_leaves_the_others_running() -> None:
    rec = Recorder()
    task = asyncio.create_task(Leadership("me", rec.build(fail_after=0.05)).run())
    await until(lambda: "stop controllers" in rec.events)
    await asyncio.sleep(0.1)
    assert "stop engine" not in rec.events and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.events[-1] == "stop engine"


async def test_elected_terms_rebuild_the_loops(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        rec = Recorder()
        elector = LeaderElector(client, ElectionConfig(identity="me", **FAST))
        leadership = Leadership("me", rec.build(fail_after=0.1), elector)
        assert not leadership.is_leader
        task = asyncio.create_task(leadership.run())
        await until(lambda: leadership.is_leader)
        assert leadership.status()["election"] == "lease" and leadership.leader == "me"
        # a crashed loop ends the term (all its loops stop); after a lease duration this daemon
        # competes again and leads a new term with freshly built loops
        await until(lambda: rec.builds == 2, timeout=5.0)
        first_term = rec.events[:rec.events.index("stop engine") + 1]
        assert sorted(first_term) == ["start controllers", "start engine", "stop controllers", "stop engine"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not leadership.is_leader
