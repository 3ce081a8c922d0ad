"""LeaderElector against a real API server: one leader at a time, takeover only after the lease
duration, a leader that cannot renew stops its loops before anyone else starts, release on stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.client import Client
from gitkube.client.leaderelection import ElectionConfig, LeaderElector
from gitkube.testing import running_apiserver

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "renew_interval": 0.2, "retry_period": 0.05}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Timeline:
    """When each elector's loops started and stopped (monotonic), to check terms never overlap."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float | None]] = []

    def loops(self, who: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def lead() -> None:
            index = len(self.spans)
            self.spans.append((who, time.monotonic(), None))
            try:
                await asyncio.Event().wait()
            finally:
                self.spans[index] = (who, self.spans[index][1], time.monotonic())
        return lead

    def assert_no_overlap(self) -> None:
        spans = sorted(self.spans, key=lambda s: s[1])
        for (who, _, end), (nxt, start, _) in zip(spans, spans[1:], strict=False):
            assert end is not None and end <= start, f"{who}'s term overlaps {nxt}'s: {self.spans}"


async def until(check: Callable[[], bool], timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def elector(client: Client, identity: str, **kw: Any) -> LeaderElector:
    return LeaderElector(client, ElectionConfig(identity=identity, **{**FAST, **kw}))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_config_rules() -> None:
    ElectionConfig(identity="a").validate()
    with pytest.raises(errors.ConfigError, match="renew deadline"):
        ElectionConfig(identity="a", lease_duration=3.0, renew_deadline=3.0).validate()
    with pytest.raises(errors.ConfigError, match="renew interval"):
        ElectionConfig(identity="a", renew_interval=5.0).validate()
    with pytest.raises(errors.ConfigError, match="identity"):
        ElectionConfig(identity="").validate()
    assert ElectionConfig(identity="a", lease_duration=2.5, renew_deadline=2.0).lease_seconds == 3


async def test_try_acquire_respects_an_unexpired_holder(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        clock = Clock()
        a = LeaderElector(client, ElectionConfig(identity="a"), clock=clock)
        b = LeaderElector(client, ElectionConfig(identity="b"), clock=clock)
        assert await a.try_acquire_or_renew() == "held"
        assert await b.try_acquire_or_renew() == "other" and b.leader == "a"
        clock.now += 3.9  # b first saw a's record at 100.0: not expired yet
        assert await b.try_acquire_or_renew() == "other"
        assert await a.try_acquire_or_renew() == "held"  # a renews: a new record version
        clock.now += 1.0
        assert await b.try_acquire_or_renew() == "other"  # b sees the new version now (at 104.9)
        clock.now += 3.8  # 3.8 s since b saw it, 8.7 s since the first version: still a's
        assert await b.try_acquire_or_renew() == "other"
        clock.now += 0.3
        assert await b.try_acquire_or_renew() == "held" and b.leader == "b"
        lease = await client.get("leases", "gitkube-leader", "kube-system")
        assert lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] == 1
        assert lease["spec"]["leaseDurationSeconds"] == 4
        assert await a.try_acquire_or_renew() == "other"  # a sees b (a fresh version for a)


async def test_stale_write_loses_the_compare_and_set(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        a = elector(client, "a")
        assert await a.try_acquire_or_renew() == "held"
        lease = await client.get("leases", "gitkube-leader", "kube-system")
        assert await a.try_acquire_or_renew() == "held"  # bumps the resourceVersion
        lease["spec"]["holderIdentity"] = "thief"
        with pytest.raises(errors.Conflict):
            await client.update("leases", lease)


async def test_one_leader_then_handover_on_cancel(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        timeline = Timeline()
        a, b = elector(client, "a"), elector(client, "b")
        ta = asyncio.create_task(a.run(timeline.loops("a")))
        await until(lambda: a.is_leader)
        tb = asyncio.create_task(b.run(timeline.loops("b")))
        await asyncio.sleep(1.5)  # longer than a lease: a keeps renewing, b never leads
        assert a.is_leader and not b.is_leader and b.leader == "a"
        assert [who for who, _, _ in timeline.spans] == ["a"]
        await stop(ta)  # a stops its loops, then releases: b need not wait for the lease to expire
        took = await until(lambda: b.is_leader)
        assert took < 0.5, took
        assert not a.is_leader
        timeline.assert_no_overlap()
        await stop(tb)
        lease = await client.get("leases", "gitkube-leader", "kube-system")
        assert lease["spec"].get("holderIdentity") in (None, "")
        await a.events.flush()
        await b.events.flush()
        events = (await client.list("events", "kube-system"))["items"]
        messages = {e["message"] for e in events if e["reason"] == "LeaderElection"}
        assert {"a became leader", "b became leader"} <= messages


async def test_a_leader_that_cannot_renew_stops_before_the_takeover(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        timeline = Timeline()
        a, b = elector(client, "a"), elector(client, "b")
        cut = asyncio.Event()
        real = a.try_acquire_or_renew

        async def partitioned() -> Any:
            if cut.is_set():
                raise OSError("connection refused")
            return await real()

        a.try_acquire_or_renew = partitioned  # type: ignore[method-assign]
        ta = asyncio.create_task(a.run(timeline.loops("a")))
        await until(lambda: a.is_leader)
        tb = asyncio.create_task(b.run(timeline.loops("b")))
        await asyncio.sleep(0.3)
        cut.set()
        cut_at = time.monotonic()
        await until(lambda: not a.is_leader)
        a_stopped = time.monotonic() - cut_at
        await until(lambda: b.is_leader)
        b_took = time.monotonic() - cut_at
        assert a_stopped <= FAST["renew_deadline"] + 0.15, a_stopped
        assert b_took >= FAST["lease_duration"] - FAST["renew_interval"] - 0.05, b_took  # waited for expiry
        timeline.assert_no_overlap()
        assert [who for who, _, _ in timeline.spans] == ["a", "b"]
        await stop(tb)
        await stop(ta)


async def test_loops_that_crash_end_the_term_and_release(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        a, b = elector(client, "a"), elector(client, "b")

        async def crash() -> None:
            await asyncio.sleep(0.1)
            raise RuntimeError("boom")

        ta = asyncio.create_task(a.run(crash))
        await until(lambda: a.is_leader)
        tb = asyncio.create_task(b.run(Timeline().loops("b")))
        took = await until(lambda: b.is_leader)
        assert took < FAST["lease_duration"], took  # released, not left to expire
        assert a.terms == 1
        await stop(ta)
        await stop(tb)
