"""The CronJob controller against a real API server on a fake clock: a run per schedule
tick with kube's Job names, status.active/lastScheduleTime/lastSuccessfulTime, the
concurrency policies, startingDeadlineSeconds, suspend and the history limits; and the
schedule arithmetic (time zones, @every, missed runs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client
from gitkube.controllers.cronjob import CronJobController
from gitkube.controllers.cronjob.schedule import job_name, most_recent, parse
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running

Obj = dict[str, Any]
KEY = "default/tick"


def cronjob_manifest(schedule: str = "* * * * *", **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
            "spec": {"schedule": schedule,
                     "jobTemplate": {"metadata": {"labels": {"app": "tick"}},
                                     "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                                         {"name": "c", "image": "python"}]}}}},
                     **spec}}


class Clock:
    """A fake clock the controller reads; ``to_minute(n)`` jumps to the n-th minute boundary
    after the CronJob was created, plus ``seconds``."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)
        self.created = self.now

    def __call__(self) -> dt.datetime:
        return self.now

    def to_minute(self, n: int, seconds: float = 1.0) -> dt.datetime:
        boundary = self.created.replace(second=0, microsecond=0) + dt.timedelta(minutes=n)
        self.now = boundary + dt.timedelta(seconds=seconds)
        return boundary


async def idle(ctl: CronJobController) -> bool:
    """Nothing queued and nothing being synced (timers for later runs aside)."""
    return not len(ctl.queue) and not ctl.queue._processing


async def jobs(client: Client) -> list[Obj]:
    items = (await client.list("jobs", "default"))["items"]
    return sorted([j for j in items if not j["metadata"].get("deletionTimestamp")], key=lambda j: j["metadata"]["name"])


async def n_jobs(client: Client, n: int) -> list[Obj] | None:
    found = await jobs(client)
    return found if len(found) == n else None


async def cj_status(client: Client) -> Obj:
    return (await client.get("cronjobs", "tick", "default")).get("status") or {}


async def finish_job(client: Client, job: Obj, kind: str = "Complete", when: str | None = None) -> None:
    stamp = when or meta.now()
    status: Obj = {"startTime": stamp, "conditions": [{"type": kind, "status": "True", "lastTransitionTime": stamp}]}
    if kind == "Complete":
        status["completionTime"] = stamp
        status["succeeded"] = 1
    await client.patch("jobs", job["metadata"]["name"], {"status": status}, "default", subresource="status")


async def reasons(client: Client) -> list[str]:
    return [e["reason"] for e in (await client.list("events", "default"))["items"]]


async def start(client: Client, clock: Clock, manifest: Obj) -> Obj:
    cj = await client.create("cronjobs", manifest, "default")
    clock.created = meta.parse_time(cj["metadata"]["creationTimestamp"])
    return cj


async def test_fires_once_per_tick_and_tracks_the_job(tmp_path: Path) -> None:
    clock = Clock()
    async with running_apiserver(tmp_path / "d") as (_s, client):
        cj = await start(client, clock, cronjob_manifest())
        async with running(CronJobController(client, now=clock)) as ctl:
            await eventually(lambda: idle(ctl))
            assert await jobs(client) == []  # the first tick has not come yet
            tick = clock.to_minute(1)
            ctl.queue.add(KEY)
            [job] = await eventually(lambda: n_jobs(client, 1))
            assert job["metadata"]["name"] == f"tick-{int(tick.timestamp()) // 60}"
            assert meta.controller_ref(job) == {"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
                                                "uid": cj["metadata"]["uid"], "controller": True,
                                                "blockOwnerDeletion": True}
            assert job["metadata"]["labels"]["app"] == "tick"
            assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
                meta.format_time(tick)
            status = await eventually(lambda: _active(client, 1))
            assert status["lastScheduleTime"] == meta.format_time(tick)
            assert status["active"][0]["name"] == job["metadata"]["name"]
            clock.now += dt.timedelta(seconds=20)  # the same tick again: nothing new
            ctl.queue.add(KEY)
            await eventually(lambda: idle(ctl))
            assert len(await jobs(client)) == 1
            await finish_job(client, job)
            status = await eventually(lambda: _active(client, 0))
            assert status["lastSuccessfulTime"]
            clock.to_minute(2)
            ctl.queue.add(KEY)
            await eventually(lambda: n_jobs(client, 2))
            await ctl.events.flush()
            got = await reasons(client)
            assert got.count("SuccessfulCreate") == 2 and "SawCompletedJob" in got


async def _active(client: Client, n: int) -> Obj | None:
    status = await cj_status(client)
    return status if len(status.get("active") or []) == n and status.get("lastScheduleTime") else None


async def test_forbid_skips_and_replace_replaces(tmp_path: Path) -> None:
    clock = Clock()
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await start(client, clock, cronjob_manifest(concurrencyPolicy="Forbid"))
        async with running(CronJobController(client, now=clock)) as ctl:
            clock.to_minute(1)
            ctl.queue.add(KEY)
            [first] = await eventually(lambda: n_jobs(client, 1))
            await eventually(lambda: _active(client, 1))
            clock.to_minute(2)
            ctl.queue.add(KEY)
            await ctl.events.flush()
            await eventually(lambda: _has_reason(client, "JobAlreadyActive"))
            assert len(await jobs(client)) == 1
            await client.patch("cronjobs", "tick", {"spec": {"concurrencyPolicy": "Replace"}}, "default")
            clock.to_minute(3)
            ctl.queue.add(KEY)
            [second] = await eventually(lambda: _only_other_job(client, first["metadata"]["name"]))
            status = await eventually(lambda: _active(client, 1))
            assert status["active"][0]["name"] == second["metadata"]["name"]
            await ctl.events.flush()
            assert "SuccessfulDelete" in await reasons(client)


async def _has_reason(client: Client, reason: str) -> bool:
    return reason in await reasons(client)


async def _only_other_job(client: Client, old: str) -> list[Obj] | None:
    found = await jobs(client)
    return found if len(found) == 1 and found[0]["metadata"]["name"] != old else None


async def test_starting_deadline_and_suspend(tmp_path: Path) -> None:
    clock = Clock()
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await start(client, clock, cronjob_manifest(startingDeadlineSeconds=30, suspend=True))
        async with running(CronJobController(client, now=clock)) as ctl:
            clock.to_minute(1)
            ctl.queue.add(KEY)
            await eventually(lambda: idle(ctl))
            assert await jobs(client) == []  # suspended
            await client.patch("cronjobs", "tick", {"spec": {"suspend": False}}, "default")
            clock.to_minute(5, seconds=45)  # minute 5 started 45 s ago: past the 30 s deadline
            ctl.queue.add(KEY)
            await eventually(lambda: idle(ctl))
            assert await jobs(client) == []
            tick = clock.to_minute(6, seconds=20)  # within the deadline: the missed runs are skipped
            ctl.queue.add(KEY)
            [job] = await eventually(lambda: n_jobs(client, 1))
            assert job["metadata"]["name"] == job_name("tick", tick)


async def test_history_limits_delete_the_oldest_finished_jobs(tmp_path: Path) -> None:
    clock = Clock()
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await start(client, clock, cronjob_manifest(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1))
        async with running(CronJobController(client, now=clock)) as ctl:
            for minute, kind in ((1, "Complete"), (2, "Complete"), (3, "Failed"), (4, "Failed")):
                clock.to_minute(minute)
                ctl.queue.add(KEY)
                found = await eventually(lambda: _job_for(client, clock))
                await finish_job(client, found, kind, when=meta.format_time(clock.now))
                await eventually(lambda: _active(client, 0))
            names = [j["metadata"]["name"] for j in await eventually(lambda: n_jobs(client, 2))]
            base = int(clock.created.replace(second=0, microsecond=0).timestamp()) // 60
            assert names == [f"tick-{base + 2}", f"tick-{base + 4}"]


async def _job_for(client: Client, clock: Clock) -> Obj | None:
    name = job_name("tick", clock.now.replace(second=0, microsecond=0))
    return next((j for j in await jobs(client) if j["metadata"]["name"] == name), None)


def test_schedule_in_a_time_zone_across_dst() -> None:
    sched = parse("0 9 * * *", "America/New_York")
    before = dt.datetime(2024, 3, 9, 12, 0, tzinfo=dt.UTC)
    first = sched.next(before)
    assert first == dt.datetime(2024, 3, 9, 14, 0, tzinfo=dt.UTC)  # 09:00 EST
    assert sched.next(first) == dt.datetime(2024, 3, 10, 13, 0, tzinfo=dt.UTC)  # 09:00 EDT
    utc = parse("0 9 * * *")
    assert utc.next(before) == dt.datetime(2024, 3, 10, 9, 0, tzinfo=dt.UTC)
    legacy = parse("TZ=Asia/Tokyo 0 9 * * *")
    assert legacy.next(before) == dt.datetime(2024, 3, 10, 0, 0, tzinfo=dt.UTC)


def test_every_macros_and_bad_schedules() -> None:
    t = dt.datetime(2024, 1, 1, 0, 0, 10, 500, tzinfo=dt.UTC)
    assert parse("@every 1h30m").next(t) == dt.datetime(2024, 1, 1, 1, 30, 10, tzinfo=dt.UTC)
    assert parse("@hourly").next(t) == dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.UTC)
    assert parse("@midnight").next(t) == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert parse("*/15 * * * MON-FRI").next(t) == dt.datetime(2024, 1, 1, 0, 15, tzinfo=dt.UTC)
    for bad in ("* * * *", "61 * * * *", "@every x"):
        with pytest.raises(errors.ConfigError):
            parse(bad)
    with pytest.raises(errors.ConfigError, match="unknown time zone"):
        parse("* * * * *", "Mars/Olympus")


def test_most_recent_counts_missed_runs() -> None:
    sched = parse("*/5 * * * *")
    earliest = dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert most_recent(sched, earliest, earliest + dt.timedelta(minutes=4)) == (None, 0)
    latest, missed = most_recent(sched, earliest, earliest + dt.timedelta(minutes=17))
    assert latest == earliest + dt.timedelta(minutes=15) and missed == 3
    latest, missed = most_recent(sched, earliest, earliest + dt.timedelta(days=2, minutes=3))
    assert latest == earliest + dt.timedelta(days=2) and missed == 101
    every = parse("@every 10s")
    latest, missed = most_recent(every, earliest, earliest + dt.timedelta(hours=1, seconds=5))
    assert latest == earliest + dt.timedelta(hours=1) and missed == 101
    assert job_name("tick", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) == "tick-28401120"
