"""The commit → plan → sync pipeline against a real API server (in process) and a real git repo.

No controllers run here, so syncs use ``wait=False`` where health would need them; what is under
test is the plan against the server's real defaulting, the apply, the inventory and prune.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.engine.pipeline import prepare
from gitkube.gitsource.repo import GitRepo
from gitkube.manifests import ParseCache
from gitkube.sync.progress import ProgressLog
from gitkube.sync.releases import ReleaseLog
from gitkube.sync.syncer import run_plan
from gitkube.testing import running_apiserver

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "app"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{
                              "name": "web", "image": "python:3.11", "command": ["python3", "-m", "http.server"],
                              "ports": [{"containerPort": 8000}],
                              "env": [{"name": "A", "value": "1"},
                                      {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                                      {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                                          "resource": "limits.memory"}}}],
                              "resources": {"requests": {"cpu": "0.1", "memory": "64Mi"}}}]}}},
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str = "change") -> str:
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


BASE = {
    "ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n",
    "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: app\ndata:\n  a: '1'\n",
    "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pw\n  namespace: app\nstringData:\n"
                   "  password: hunter2\n",
    "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: app\nspec:\n"
                "  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8000\n",
    "sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n  namespace: app\n",
    "deploy.yaml": json.dumps(DEPLOYMENT),
}


async def _sync(repo: Path, client, log: ReleaseLog, rev: str = "HEAD", **kw):
    prepared = await prepare(GitRepo(repo), rev, client, cache=ParseCache(None), log=log, **kw)
    assert prepared.problems == []
    plog = ProgressLog(prepared.commit.sha)

    async def remember(keys: set[ObjectKey]) -> None:
        state.inventory |= keys
        await log.save_state(state)

    state = await log.state()
    result = await run_plan(client, prepared.plan, plog, timeout=5, wait=False, on_inventory=remember)
    assert result.ok, result.reason
    state.commit = prepared.commit.sha
    state.inventory = set(prepared.desired)
    await log.save_state(state)
    return prepared, result, plog


async def test_apply_then_plan_is_in_sync_and_changes_are_exact(tmp_path: Path, repo: Path) -> None:
    commit(repo, BASE)
    async with running_apiserver(tmp_path / "data") as (_, client):
        log = ReleaseLog(client)
        first, result, plog = await _sync(repo, client, log)
        assert sorted(c.action for c in first.plan.changes) == ["create"] * 6
        assert [e["type"] for e in plog.events if e["type"] == "wave"]  # waves were reported
        again = await prepare(GitRepo(repo), "HEAD", client, cache=ParseCache(None), log=log)
        noisy = [(str(c.key), c.fields) for c in again.plan.changes if c.action != "unchanged"]
        assert noisy == [] and again.plan.in_sync

        changed = json.loads(json.dumps(DEPLOYMENT))
        changed["spec"]["template"]["spec"]["containers"][0]["env"].pop(0)
        changed["spec"]["replicas"] = 3
        commit(repo, {"deploy.yaml": json.dumps(changed),
                      "secret.yaml": BASE["secret.yaml"].replace("hunter2", "correcthorse")})
        plan = (await prepare(GitRepo(repo), "HEAD", client, cache=ParseCache(None), log=log)).plan
        updates = {str(c.key): c for c in plan.changes if c.action == "update"}
        assert set(updates) == {"Deployment.apps app/web", "Secret app/pw"}
        paths = {f.path for f in updates["Deployment.apps app/web"].fields}
        assert "spec.replicas" in paths and any("env" in p for p in paths)
        secret = updates["Secret app/pw"]
        text = json.dumps(plan.to_json()) + secret.diff + json.dumps([f.__dict__ for f in secret.fields])
        assert "hunter2" not in text and "correcthorse" not in text
        assert "aHVudGVyMg" not in text  # nor their base64


async def test_prune_is_safe(tmp_path: Path, repo: Path) -> None:
    commit(repo, BASE)
    async with running_apiserver(tmp_path / "data") as (_, client):
        log = ReleaseLog(client)
        await _sync(repo, client, log)
        # someone protects the ServiceAccount, and takes the ConfigMap away from gitkube
        await client.patch("serviceaccounts", "web", {"metadata": {"annotations": {"gitkube.io/prune": "disabled"}}},
                           "app")
        await client.patch("configmaps", "cfg", {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}},
                           "app")
        commit(repo, {"sa.yaml": None, "cm.yaml": None, "svc.yaml": None})
        prepared, result, _ = await _sync(repo, client, log)
        assert [str(c.key) for c in prepared.plan.prune] == ["Service app/web"]
        assert {str(k) for k, _ in prepared.plan.skipped_prune} == {"ServiceAccount app/web", "ConfigMap app/cfg"}
        assert [str(k) for k in result.pruned] == ["Service app/web"]
        await client.get("serviceaccounts", "web", "app")
        await client.get("configmaps", "cfg", "app")
        with pytest.raises(errors.NotFound):
            await client.get("services", "web", "app")
        # an empty desired set is refused, not obeyed
        commit(repo, {name: None for name in ("ns.yaml", "secret.yaml", "deploy.yaml")})
        refused = await prepare(GitRepo(repo), "HEAD", client, cache=ParseCache(None), log=log)
        assert refused.problems and "empty" in refused.problems[0]
        allowed = await prepare(GitRepo(repo), "HEAD", client, cache=ParseCache(None), log=log, allow_empty=True)
        assert allowed.problems == [] and len(allowed.plan.prune) == 3


async def test_server_dry_run_rejects_what_only_the_server_knows(tmp_path: Path, repo: Path) -> None:
    bad = json.loads(json.dumps(DEPLOYMENT))
    bad["metadata"]["namespace"] = "default"
    bad["spec"]["selector"]["matchLabels"] = {"app": "other"}  # does not match the template
    commit(repo, {"deploy.yaml": json.dumps(bad)})
    async with running_apiserver(tmp_path / "data") as (_, client):
        prepared = await prepare(GitRepo(repo), "HEAD", client, cache=ParseCache(None), log=ReleaseLog(client))
        assert len(prepared.problems) == 1
        assert "Deployment.apps default/web (deploy.yaml:1:1)" in prepared.problems[0]
        assert "selector" in prepared.problems[0]
        with pytest.raises(errors.NotFound):
            await client.get("deployments", "web", "default")
