"""The daemon's incremental planning gives the same plan as the full pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.engine.incremental import Baseline, baseline_of, prepare_incremental
from gitkube.engine.pipeline import prepare
from gitkube.gitsource.repo import GitRepo
from gitkube.manifests import ParseCache
from gitkube.sync.progress import ProgressLog
from gitkube.sync.releases import ReleaseLog
from gitkube.sync.syncer import run_plan
from gitkube.testing import running_apiserver
from tests.unit.engine.test_pipeline import commit, git

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  v: '{v}'\n"


def _actions(plan) -> dict[str, str]:
    out = {str(c.key): c.action for c in plan.changes}
    out.update({str(c.key): "delete" for c in plan.prune})
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


async def _baseline(repo: Path, client, log: ReleaseLog) -> Baseline:
    prepared = await prepare(GitRepo(repo), "HEAD", client, cache=ParseCache(None), log=log)
    result = await run_plan(client, prepared.plan, ProgressLog("x"), timeout=5, wait=False)
    assert result.ok
    state = await log.state()
    state.commit, state.inventory = prepared.commit.sha, set(prepared.desired)
    await log.save_state(state)
    base = baseline_of("", GitRepo(repo).files(prepared.commit.sha), prepared.manifests)
    assert base is not None
    return base


async def test_same_plan_as_the_full_pipeline(tmp_path: Path, repo: Path) -> None:
    commit(repo, {f"cm{i}.yaml": CM.format(name=f"cm{i}", v=i) for i in range(6)})
    async with running_apiserver(tmp_path / "data") as (_, client):
        log = ReleaseLog(client)
        base = await _baseline(repo, client, log)
        # drift outside git on cm3, which the watch has not compared yet
        await client.patch("configmaps", "cm3", {"data": {"v": "drifted"}}, "default")
        sha = commit(repo, {"cm1.yaml": CM.format(name="cm1", v="changed"), "cm2.yaml": None,
                            "new.yaml": CM.format(name="new", v=0)})
        drifted = ObjectKey("", "ConfigMap", "default", "cm3")
        fast = await prepare_incremental(GitRepo(repo), sha, client, base, await log.state(),
                                         in_sync=lambda k: k != drifted, cache=ParseCache(None), allow_empty=False)
        assert fast is not None
        prepared, affected = fast
        full = await prepare(GitRepo(repo), sha, client, cache=ParseCache(None), log=log)
        assert _actions(prepared.plan) == _actions(full.plan)
        assert _actions(prepared.plan)["ConfigMap default/cm3"] == "update"
        assert {str(k) for k in affected} == {"ConfigMap default/cm1", "ConfigMap default/cm2", "ConfigMap default/new"}
        assert [str(m.source) for m in prepared.manifests] == [str(m.source) for m in full.manifests]
        assert [c.wave for c in prepared.plan.changes] == [c.wave for c in full.plan.changes]


async def test_duplicates_bad_files_and_special_trees(tmp_path: Path, repo: Path) -> None:
    commit(repo, {"a.yaml": CM.format(name="a", v=1), "b.yaml": CM.format(name="b", v=1)})
    async with running_apiserver(tmp_path / "data") as (_, client):
        log = ReleaseLog(client)
        base = await _baseline(repo, client, log)
        blobs = dict(base.blobs)
        dup = commit(repo, {"c.yaml": CM.format(name="a", v=2)})
        with pytest.raises(errors.ManifestError, match=r"c.yaml:1:1: ConfigMap default/a is also defined at a.yaml:1:1"):
            await prepare_incremental(GitRepo(repo), dup, client, base, await log.state(), in_sync=lambda k: True,
                                      cache=None, allow_empty=False)
        assert base.blobs == blobs  # a refused commit leaves the baseline alone
        bad = commit(repo, {"c.yaml": "kind: ConfigMap\n\tbad\n"})
        with pytest.raises(errors.ManifestError, match="c.yaml:2"):
            await prepare_incremental(GitRepo(repo), bad, client, base, await log.state(), in_sync=lambda k: True,
                                      cache=None, allow_empty=False)
        kz = commit(repo, {"c.yaml": None, "k/kustomization.yaml": "resources: []\n"})
        assert await prepare_incremental(GitRepo(repo), kz, client, base, await log.state(), in_sync=lambda k: True,
                                         cache=None, allow_empty=False) is None
        # an empty desired set is still refused when the deletions come file by file
        empty = commit(repo, {"a.yaml": None, "b.yaml": None, "k/kustomization.yaml": None})
        base2 = await _baseline_at(repo, client, log, "HEAD~4")
        fast = await prepare_incremental(GitRepo(repo), empty, client, base2, await log.state(), in_sync=lambda k: True,
                                         cache=None, allow_empty=False)
        assert fast is not None and "refusing to prune" in fast[0].problems[0]


async def _baseline_at(repo: Path, client, log: ReleaseLog, rev: str) -> Baseline:
    prepared = await prepare(GitRepo(repo), rev, client, cache=None, log=log, server_dry_run=False)
    base = baseline_of("", GitRepo(repo).files(prepared.commit.sha), prepared.manifests)
    assert base is not None
    return base
