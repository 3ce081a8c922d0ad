"""EventRecorder's correlator: aggregation of similar events, dedup, and the spam filter."""

from __future__ import annotations

from pathlib import Path

from gitkube.client import EventRecorder
from gitkube.client.events import COMBINED_PREFIX, SpamFilter
from gitkube.testing import running_apiserver


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_spam_filter_burst_then_refill() -> None:
    clock = Clock()
    spam = SpamFilter(burst=3, refill_seconds=10.0, clock=clock)
    key = ("Pod", "default", "a", "uid-a")
    assert [spam.allow(key) for _ in range(4)] == [True, True, True, False]
    assert spam.allow(("Pod", "default", "b", "uid-b"))  # buckets are per object
    clock.now += 9.0
    assert not spam.allow(key)
    clock.now += 1.5  # 10.5 s since the bucket emptied: one token back, not two
    assert spam.allow(key)
    assert not spam.allow(key)
    clock.now += 1000.0  # refills up to the burst only
    assert [spam.allow(key) for _ in range(4)] == [True, True, True, False]


def test_spam_filter_forgets_least_recently_used() -> None:
    spam = SpamFilter(burst=1, refill_seconds=1e9, clock=Clock(), size=2)
    a, b, c = (("Pod", "default", n, n) for n in "abc")
    assert spam.allow(a) and not spam.allow(a)
    assert spam.allow(b) and spam.allow(c)  # a is evicted: a fresh bucket next time
    assert spam.allow(a)


def _cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


async def _events_of(client, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    listed = await client.list("events", "default", field_selector=f"involvedObject.name={name}")
    return sorted(listed["items"], key=lambda e: (e["count"], e["message"]))


async def test_distinct_messages_are_combined(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        obj = await client.create("configmaps", _cm("owner"), "default")
        rec = EventRecorder(client, "test-controller")
        for i in range(14):
            rec.record(obj, "Normal", "SuccessfulCreate", f"Created pod: p{i}")
            await rec.flush()
        rec.record(obj, "Warning", "FailedCreate", "other reason")  # not part of the combination
        await rec.flush()
        events = await _events_of(client, "owner")
        singles = [e for e in events if not e["message"].startswith(COMBINED_PREFIX)]
        combined = [e for e in events if e["message"].startswith(COMBINED_PREFIX)]
        assert sorted(e["message"] for e in singles if e["reason"] == "SuccessfulCreate") == sorted(
            f"Created pod: p{i}" for i in range(9))
        assert [e["reason"] for e in singles if e["reason"] != "SuccessfulCreate"] == ["FailedCreate"]
        assert len(combined) == 1
        assert combined[0]["count"] == 5
        assert combined[0]["message"] == COMBINED_PREFIX + "Created pod: p13"


async def test_spam_filter_drops_creates_and_bumps(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client):
        obj = await client.create("configmaps", _cm("noisy"), "default")
        other = await client.create("configmaps", _cm("quiet"), "default")
        clock = Clock()
        rec = EventRecorder(client, "test-controller", clock=clock)
        for _ in range(30):
            rec.record(obj, "Warning", "BackOff", "Back-off restarting failed container")
        rec.record(other, "Normal", "Tested", "unaffected")
        await rec.flush()
        assert rec.dropped == 5
        [noisy] = await _events_of(client, "noisy")
        assert noisy["count"] == 25
        assert [e["count"] for e in await _events_of(client, "quiet")] == [1]
        clock.now += 301.0  # one token back
        for _ in range(3):
            rec.record(obj, "Warning", "BackOff", "Back-off restarting failed container")
        await rec.flush()
        [noisy] = await _events_of(client, "noisy")
        assert noisy["count"] == 26
        assert rec.dropped == 7
