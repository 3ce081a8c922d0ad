"""The engine's reports against a real API server and a real git repository: Kubernetes Events on
gitkube-system/gitkube-state, the sync metrics, and the notification documents (no Secret data)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.engine.daemon import Engine, EngineSettings
from gitkube.engine.notify import SyncReporter
from gitkube.engine.source import Source
from gitkube.gitsource.repo import GitRepo
from gitkube.manifests import ParseCache
from gitkube.observability.metrics import Metrics
from gitkube.testing import running_apiserver
from tests.unit.engine.test_daemon import CM, SVC
from tests.unit.engine.test_pipeline import commit, git
from tests.unit.observability.test_metrics import samples, value

SECRET = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: default\n"
          "stringData:\n  password: hunter2-very-secret\n")


class Inbox:
    def __init__(self) -> None:
        self.documents: list[tuple[str, dict[str, Any]]] = []

    def send(self, event: str, document: dict[str, Any]) -> None:
        self.documents.append((event, document))


async def state_events(client: Client, want: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items = (await client.list("events", "gitkube-system"))["items"]
        mine = [e for e in items if e["involvedObject"]["name"] == "gitkube-state"]
        if len(mine) >= want or time.monotonic() > deadline:
            return mine
        await asyncio.sleep(0.05)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


async def test_sync_rollback_and_manual_rollback_are_reported(tmp_path: Path, repo: Path) -> None:
    a = commit(repo, {"cm.yaml": CM.format(v=1), "secret.yaml": SECRET}, "a")
    metrics, inbox = Metrics(process=False), Inbox()
    async with running_apiserver(tmp_path / "data") as (_, client):
        reporter = SyncReporter(client, branch="main", app="demo", metrics=metrics, notifier=inbox)
        engine = Engine(Source("local", GitRepo(repo), "main"), client, EngineSettings(rollout_timeout=1.0),
                        cache=ParseCache(None), reporter=reporter)
        first = await engine.sync(GitRepo(repo).resolve(a), trigger="test")
        assert first.outcome == "Synced"
        b = commit(repo, {"cm.yaml": CM.format(v=2), "svc.yaml": SVC}, "b: a service nobody serves")
        second = await engine.sync(GitRepo(repo).resolve(b), trigger="push")
        assert second.outcome == "RolledBack"
        c = commit(repo, {"svc.yaml": None, "cm.yaml": CM.format(v=3)}, "c")
        assert (await engine.sync(GitRepo(repo).resolve(c), trigger="push")).outcome == "Synced"
        plog = await engine.rollback(a)
        async for _ in plog.follow():
            pass
        await engine.stop()

        events = await state_events(client, 7)
        reasons = [(e["type"], e["reason"]) for e in events]
        assert ("Normal", "Synced") in reasons and ("Warning", "RolledBack") in reasons
        assert ("Normal", "RollbackRequested") in reasons
        assert reasons.count(("Normal", "SyncStarted")) == 4
        rolled = next(e for e in events if e["reason"] == "RolledBack")
        assert b[:12] in rolled["message"] and a[:12] in rolled["message"]
        state = await client.get("configmaps", "gitkube-state", "gitkube-system")
        # the first SyncStarted comes before gitkube-state exists; every later Event names its uid
        without = [e["reason"] for e in events if not e["involvedObject"]["uid"]]
        assert without == ["SyncStarted"]
        assert {e["involvedObject"]["uid"] for e in events} == {"", state["metadata"]["uid"]}
        assert all(e["source"]["component"] == "gitkube" for e in events)

    found = samples((await metrics.exposition())[0])
    assert value(found, "gitkube_sync_total", outcome="Synced") == 3
    assert value(found, "gitkube_sync_total", outcome="RolledBack") == 1
    assert value(found, "gitkube_sync_duration_seconds_count") == 4
    assert value(found, "gitkube_rollbacks_total", trigger="automatic") == 1
    assert value(found, "gitkube_rollbacks_total", trigger="manual") == 1

    kinds = [event for event, _ in inbox.documents]
    assert kinds == ["synced", "rolledback", "synced", "synced"]
    synced, rolledback = inbox.documents[0][1], inbox.documents[1][1]
    assert synced["commit"] == a and synced["previous"] == "" and synced["app"] == "demo"
    assert synced["branch"] == "main" and synced["objects"]["counts"]["create"] == 2
    assert {"object": "Secret default/creds", "action": "create"} in synced["objects"]["changes"]
    assert rolledback["commit"] == b and rolledback["previous"] == a and rolledback["rolledBackTo"] == a
    assert rolledback["trigger"] == "push" and "no ready endpoints" in rolledback["reason"]
    manual = inbox.documents[3][1]
    assert manual["commit"] == a and manual["previous"] == c and manual["trigger"] == "rollback"
    assert all("hunter2" not in str(doc) for _, doc in inbox.documents)


async def test_refused_commit_and_drift(tmp_path: Path, repo: Path) -> None:
    bad = commit(repo, {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  nam: x\n"}, "broken")
    metrics, inbox = Metrics(process=False), Inbox()
    async with running_apiserver(tmp_path / "data") as (_, client):
        reporter = SyncReporter(client, branch="main", metrics=metrics, notifier=inbox)
        engine = Engine(Source("local", GitRepo(repo), "main"), client, EngineSettings(), cache=ParseCache(None),
                        reporter=reporter)
        release = await engine.sync(GitRepo(repo).resolve(bad), trigger="push")
        assert release.outcome == "Failed"
        reporter.drift(ObjectKey("apps", "Deployment", "web", "api"), ["spec.replicas"], True, bad)
        reporter.drift(ObjectKey("", "Secret", "web", "creds"), None, False, bad)
        await engine.stop()
        events = await state_events(client, 2)
        assert sorted((e["type"], e["reason"]) for e in events) == [("Normal", "SyncStarted"),
                                                                     ("Warning", "SyncFailed")]
        assert "rejected by pre-flight" in next(e["message"] for e in events if e["reason"] == "SyncFailed")
    found = samples((await metrics.exposition())[0])
    assert value(found, "gitkube_sync_total", outcome="Failed") == 1
    assert value(found, "gitkube_drift_detected_total", kind="Deployment") == 1
    assert value(found, "gitkube_drift_detected_total", kind="Secret") == 1
    assert [event for event, _ in inbox.documents] == ["failed", "drift", "drift"]
    drift = inbox.documents[1][1]
    assert drift["fields"] == ["spec.replicas"] and drift["kind"] == "Deployment" and drift["selfHeal"] is True
    assert inbox.documents[2][1]["deleted"] is True and inbox.documents[2][1]["fields"] is None
