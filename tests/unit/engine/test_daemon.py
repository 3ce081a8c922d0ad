"""The engine's decisions against a real in-process API server and a real git repository:
automatic rollback to the last healthy commit, no retry of a failed commit, holds after a manual
rollback, and following a sync's progress. No controllers run, so a Service that selects pods
never gets endpoints: that is the unhealthy object here."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitkube import errors
from gitkube.engine.daemon import Engine, EngineSettings
from gitkube.engine.source import Source
from gitkube.gitsource.repo import GitRepo
from gitkube.manifests import ParseCache
from gitkube.testing import running_apiserver
from tests.unit.engine.test_pipeline import commit, git

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  v: '{v}'\n"
SVC = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: lonely\n  namespace: default\nspec:\n"
       "  selector:\n    app: nobody\n  ports:\n  - port: 80\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


async def test_rollback_no_retry_and_hold(tmp_path: Path, repo: Path) -> None:
    a = commit(repo, {"cm.yaml": CM.format(v=1)}, "a")
    async with running_apiserver(tmp_path / "data") as (_, client):
        engine = Engine(Source("local", GitRepo(repo), "main"), client, EngineSettings(rollout_timeout=1.0),
                        cache=ParseCache(None))
        first = await engine.sync(GitRepo(repo).resolve(a), trigger="test")
        assert first.outcome == "Synced" and engine.state.healthy == a

        b = commit(repo, {"cm.yaml": CM.format(v=2), "svc.yaml": SVC}, "b: a service nobody serves")
        plog_events: list[str] = []
        second = await engine.sync(GitRepo(repo).resolve(b), trigger="test")
        plog_events = [e["type"] for e in engine.logs[b].events]
        assert second.outcome == "RolledBack" and second.rolled_back_to == a
        assert "no ready endpoints" in second.reason
        assert "rollback" in plog_events and plog_events[-1] == "outcome"
        assert (await client.get("configmaps", "cfg", "default"))["data"]["v"] == "1"
        with pytest.raises(errors.NotFound):  # what b added is pruned by the rollback
            await client.get("services", "lonely", "default")
        assert engine.state.commit == a and b in engine.state.failed
        assert engine.sync_state == "RolledBack"
        # the failed head is not retried; a newer commit is
        assert engine._target() == (None, engine._target()[1]) and "not retried" in engine._target()[1]
        c = commit(repo, {"svc.yaml": None, "cm.yaml": CM.format(v=3)}, "c")
        assert engine._target() == (c, "")
        third = await engine.sync(GitRepo(repo).resolve(c), trigger="test")
        assert third.outcome == "Synced"
        # a manual rollback holds until the head moves
        plog = await engine.rollback(a)
        events = [e async for e in plog.follow()]
        assert events[-1]["outcome"] == "Synced"
        assert engine.state.held == a and engine._target() == (a, "held by rollback")
        assert (await client.get("configmaps", "cfg", "default"))["data"]["v"] == "1"
        d = commit(repo, {"cm.yaml": CM.format(v=4)}, "d")
        assert engine._target() == (d, "") and engine.state.held == ""
        history = await engine.releases.entries()
        assert [(r.commit, r.outcome) for r in history] == [(a, "Synced"), (c, "Synced"), (b, "RolledBack"),
                                                             (a, "Synced")]
        await engine.stop()


async def test_rejected_commit_is_recorded_and_nothing_applied(tmp_path: Path, repo: Path) -> None:
    bad = commit(repo, {"cm.yaml": CM.format(v=1), "typo.yaml": CM.replace("data:", "dta:").replace("cfg", "x")}, "bad")
    async with running_apiserver(tmp_path / "data") as (_, client):
        engine = Engine(Source("local", GitRepo(repo), "main"), client, EngineSettings(), cache=ParseCache(None))
        release = await engine.sync(GitRepo(repo).resolve(bad), trigger="test")
        assert release.outcome == "Failed" and release.reason.startswith("rejected by pre-flight")
        assert "typo.yaml:6:1" in release.reason and 'unknown field "dta"' in release.reason
        with pytest.raises(errors.NotFound):
            await client.get("configmaps", "cfg", "default")
        assert engine._target()[0] is None
        await engine.stop()
