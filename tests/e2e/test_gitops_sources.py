"""Issue 4 end to end: the other sources and targets.

- a watched local working repository applied to a *foreign* cluster (``--target-kubeconfig``: the
  session daemon, reached only through its HTTPS kubeconfig);
- a remote URL mirrored into the data dir, fetched at once by ``POST /api/webhook`` (Bearer token
  or a GitHub-style HMAC signature);
- a daemon killed with SIGKILL in the middle of a sync redoes it on restart under the same
  release number.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.e2e.conftest import Daemon, Kubectl, start_daemon, stop_daemon
from tests.e2e.test_gitops import git, gitkube
from tests.e2e.test_kubectl import wait_for

pytestmark = pytest.mark.e2e


def _repo(path: Path, bare: bool = False) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main", *(["--bare"] if bare else []))
    if not bare:
        git(path, "config", "user.email", "dev@example.com")
        git(path, "config", "user.name", "Dev")
    return path


def _commit(work: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").stdout.strip()


def _configmap(ns: str, name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  value: '{value}'\n"


def _namespace(ns: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"


def _history(d: Daemon) -> list[dict]:
    return json.loads(gitkube("history", "--data-dir", str(d.data_dir), "-o", "json", check=True).stdout)


def _token(d: Daemon) -> str:
    return str(YAML(typ="safe").load(d.kubeconfig.read_text())["users"][0]["user"]["token"])


def _post(d: Daemon, path: str, body: bytes, headers: dict[str, str]) -> int:
    ctx = ssl.create_default_context(cafile=str(d.data_dir / "pki" / "ca.crt"))
    req = urllib.request.Request(d.url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _value(k: Kubectl, ns: str, name: str) -> str | None:
    proc = k.run("-n", ns, "get", "configmap", name, "-o", "json", check=False)
    return json.loads(proc.stdout)["data"]["value"] if proc.returncode == 0 else None


def test_local_repo_to_a_foreign_cluster(daemon: Daemon, kubectl: Kubectl, tmp_path: Path) -> None:
    work = _repo(tmp_path / "work")
    _commit(work, {"ns.yaml": _namespace("foreign"), "cm.yaml": _configmap("foreign", "cfg", "1")}, "first")
    b = start_daemon(tmp_path / "b", extra_args=[
        "--no-local-node", "--service-cidr", "127.91.0.0/16", "--repo", str(work),
        "--target-kubeconfig", str(daemon.kubeconfig), "--rollout-timeout", "20s"])
    try:
        wait_for(lambda: _value(kubectl, "foreign", "cfg") == "1", timeout=20, what="first commit in the target")
        # a new commit on the watched branch syncs without any push or poll
        start = time.monotonic()
        sha = _commit(work, {"cm.yaml": _configmap("foreign", "cfg", "2")}, "second")
        wait_for(lambda: _value(kubectl, "foreign", "cfg") == "2", timeout=10, what="second commit in the target")
        assert time.monotonic() - start < 5
        top = _history(b)[0]
        assert top["commit"] == sha and top["outcome"] == "Synced"
        # the release log lives in the target; the daemon's own control plane got nothing
        assert kubectl.run("-n", "gitkube-system", "get", "configmap", "gitkube-state", check=False).returncode == 0
        own = Kubectl(b.kubeconfig, kubectl.cache_dir, kubectl.binary)
        assert own.run("get", "namespace", "foreign", check=False).returncode != 0
        diff = gitkube("diff", "--repo", str(work), "--kubeconfig", str(daemon.kubeconfig))
        assert diff.returncode == 0, diff.stdout + diff.stderr
    finally:
        stop_daemon(b)


def test_remote_url_and_webhook(tmp_path: Path, kubectl: Kubectl) -> None:
    origin = _repo(tmp_path / "origin.git", bare=True)
    work = _repo(tmp_path / "work")
    _commit(work, {"ns.yaml": _namespace("hooked"), "cm.yaml": _configmap("hooked", "cfg", "1")}, "first")
    git(work, "push", "-q", str(origin), "HEAD:main")
    c = start_daemon(tmp_path / "c", extra_args=[
        "--no-local-node", "--service-cidr", "127.90.0.0/16", "--repo", f"file://{origin}",
        "--poll-interval", "1h", "--rollout-timeout", "20s"])
    try:
        k = Kubectl(c.kubeconfig, kubectl.cache_dir, kubectl.binary)
        wait_for(lambda: _value(k, "hooked", "cfg") == "1", timeout=20, what="the first fetch synced")
        sha = _commit(work, {"cm.yaml": _configmap("hooked", "cfg", "2")}, "second")
        git(work, "push", "-q", str(origin), "HEAD:main")
        assert _post(c, "/api/webhook", b"{}", {}) == 401
        assert _post(c, "/api/webhook", b"{}", {"X-Hub-Signature-256": "sha256=00"}) == 401
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        signature = "sha256=" + hmac.new(_token(c).encode(), body, hashlib.sha256).hexdigest()
        assert _post(c, "/api/webhook", body, {"X-Hub-Signature-256": signature}) == 202
        wait_for(lambda: _value(k, "hooked", "cfg") == "2", timeout=10, what="the webhook's fetch synced")
        assert _history(c)[0]["commit"] == sha
        _commit(work, {"cm.yaml": _configmap("hooked", "cfg", "3")}, "third")
        git(work, "push", "-q", str(origin), "HEAD:main")
        assert _post(c, "/api/webhook", b"", {"Authorization": f"Bearer {_token(c)}"}) == 202
        wait_for(lambda: _value(k, "hooked", "cfg") == "3", timeout=10, what="the bearer webhook's fetch synced")
    finally:
        stop_daemon(c)


def test_killed_mid_sync_is_redone_on_restart(tmp_path: Path, kubectl: Kubectl) -> None:
    data = tmp_path / "d"
    args = ["--no-local-node", "--service-cidr", "127.89.0.0/16", "--rollout-timeout", "6s"]
    d = start_daemon(data, extra_args=args)
    work = _repo(tmp_path / "work")
    # no node: the Deployment never becomes available, so the sync waits out its rollout timeout
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stuck", "namespace": "default"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "stuck"}},
                           "template": {"metadata": {"labels": {"app": "stuck"}},
                                        "spec": {"containers": [{"name": "c", "image": "x", "command": ["true"]}]}}}}
    sha = _commit(work, {"cm.yaml": _configmap("default", "cfg", "1"), "deploy.yaml": json.dumps(deployment)}, "stuck")
    push = subprocess.Popen(["git", "push", "-q", str(data / "repo.git"), "HEAD:main"], cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(r["outcome"] == "Progressing" for r in _history(d)), timeout=20, what="sync started")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        push.communicate(timeout=60)
        [interrupted] = _history_offline(kubectl, data)
        assert interrupted["outcome"] == "Progressing"
        d = start_daemon(data, port=d.port, extra_args=args)
        wait_for(lambda: _history(d)[0]["outcome"] != "Progressing", timeout=30, what="the redone sync to finish")
        records = _history(d)
        assert len(records) == 1, records
        assert records[0]["number"] == interrupted["number"] and records[0]["commit"] == sha
        assert records[0]["outcome"] == "Failed" and "not healthy" in records[0]["reason"]
        k = Kubectl(d.kubeconfig, kubectl.cache_dir, kubectl.binary)
        assert len(json.loads(k.run("get", "deploy", "-o", "json").stdout)["items"]) == 1
    finally:
        if push.poll() is None:
            push.kill()
        stop_daemon(d)


def _history_offline(kubectl: Kubectl, data: Path) -> list[dict]:
    """The release log read straight from the store while the daemon is down (what a restart sees)."""
    import sqlite3

    db = sqlite3.connect(data / "state.db")
    try:
        rows = db.execute("SELECT value FROM objects WHERE key LIKE '/registry/core/configmaps/gitkube-system/release-%'")
        return [json.loads(json.loads(row[0])["data"]["release.json"]) for row in rows]
    finally:
        db.close()


def test_apply_and_diff_from_the_command_line(daemon: Daemon, kubectl: Kubectl, tmp_path: Path) -> None:
    work = _repo(tmp_path / "work")
    sha = _commit(work, {"ns.yaml": _namespace("cli-apply"), "cm.yaml": _configmap("cli-apply", "cfg", "1")}, "one")
    cfg = ["--repo", str(work), "--kubeconfig", str(daemon.kubeconfig)]
    assert gitkube("diff", *cfg).returncode == 1
    applied = gitkube("apply", *cfg)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"Synced {sha[:12]}" in applied.stdout
    assert _value(kubectl, "cli-apply", "cfg") == "1"
    assert gitkube("diff", *cfg).returncode == 0
    # exit codes: 3 for what cannot be read or reached, 2 for what pre-flight rejects
    unknown = gitkube("diff", *cfg, "--rev", "no-such-branch")
    assert unknown.returncode == 3 and "no-such-branch" in unknown.stderr and "Traceback" not in unknown.stderr
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(daemon.kubeconfig.read_text().replace(f":{daemon.port}", ":1"))
    down = gitkube("diff", "--repo", str(work), "--kubeconfig", str(unreachable))
    assert down.returncode == 3 and "cannot reach" in down.stderr and "Traceback" not in down.stderr
    (work / "big.yaml").write_bytes(b"\0" * 64)
    _commit(work, {"bad.yaml": "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: [x\n"}, "bad")
    bad = gitkube("diff", *cfg)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "bad.yaml:5:1:" in bad.stderr and "at line 4" in bad.stderr and "big.yaml: not a text file" in bad.stderr
    assert gitkube("apply", *cfg).returncode == 2
    assert _value(kubectl, "cli-apply", "cfg") == "1"
