"""Secret plaintext search over every output of a full GitOps run.

A Secret is sealed with ``gitkube seal``, pushed (file transport, then HTTPS with the token as the
password), and reaches a pod as an environment variable and as a file (the pod compares digests and
prints only "env-ok"/"file-ok"). A second value is committed and diffed before it is pushed. Then
everything a user, an operator or the read-only token can see is collected - the push output,
``gitkube diff/status/history`` in every output format, the daemon log, ``kubectl get events -A``,
every listable resource through the read-only and the admin token (Secrets excepted for the
admin), ``/metrics``, the engine endpoints, every dashboard page for either role, pod logs and
every file of the data dir except the pod's secret volume and container spec - and searched for
both plaintexts and their base64: zero hits.
"""
from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_kubectl import get_json, wait_for
from tests.security.conftest import Sec

pytestmark = pytest.mark.e2e

NS = "sec-secrets"
PLAIN = ["Pl41ntext-" + "horse-staple-" + "2f9c1e", "Sec0nd-value-" + "battery-" + "77ab03"]

POD = r"""
import hashlib, os, time
want = os.environ["WANT"]
env = hashlib.sha256(os.environ.get("PASSWORD", "").encode()).hexdigest()
with open("/secret/password", "rb") as f:
    file = hashlib.sha256(f.read()).hexdigest()
print("env-ok" if env == want else "env-mismatch", "file-ok" if file == want else "file-mismatch", flush=True)
time.sleep(3600)
"""


def _deployment(plain: str) -> str:
    want = hashlib.sha256(plain.encode()).hexdigest()
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "consumer", "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "consumer"}},
                 "template": {"metadata": {"labels": {"app": "consumer"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "python:3.11", "command": [sys.executable, "-c", POD],
                                     "env": [{"name": "WANT", "value": want},
                                             {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
                                                 "name": "db", "key": "password"}}}],
                                     "volumeMounts": [{"name": "s", "mountPath": "/secret"}]}],
                     "volumes": [{"name": "s", "secret": {"secretName": "db"}}]}}},
    }, indent=2)


def _run(args: list[str], cwd: Path | None = None, input: str | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, input=input, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _gitkube(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "gitkube", *args], check=check)


def _seal(sec: Sec, plain: str) -> str:
    secret = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {NS}\nstringData:\n  password: {plain}\n"
    sealed = _gitkube_input(sec, secret)
    assert plain not in sealed and "ENC[AES256_GCM" in sealed
    return sealed


def _gitkube_input(sec: Sec, text: str) -> str:
    return _run([sys.executable, "-m", "gitkube", "seal", "--data-dir", str(sec.data)], input=text).stdout


def _pod_says(sec: Sec, plain: str) -> str:
    want = hashlib.sha256(plain.encode()).hexdigest()
    pods = [p for p in get_json(sec.kubectl, "-n", NS, "pods", "-l", "app=consumer")["items"]
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and any(e.get("value") == want for c in p["spec"]["containers"] for e in c.get("env", []))]
    if not pods:
        return ""
    return sec.kubectl.run("-n", NS, "logs", pods[0]["metadata"]["name"], check=False).stdout


def test_no_output_carries_a_secret_value(sec: Sec, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev"]
    _run([*git, "init", "-q", "-b", "main"], cwd=work)
    (work / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    (work / "db.sops.yaml").write_text(_seal(sec, PLAIN[0]))
    (work / "consumer.yaml").write_text(_deployment(PLAIN[0]))
    _run([*git, "add", "-A"], cwd=work)
    _run([*git, "commit", "-q", "-m", "db password"], cwd=work)
    outputs: dict[str, str] = {}
    push = _run([*git, "push", str(sec.data / "repo.git"), "HEAD:main"], cwd=work)
    outputs["push 1"] = push.stdout + push.stderr
    assert "Synced" in push.stderr, push.stderr
    assert "env-ok file-ok" in wait_for(lambda: _pod_says(sec, PLAIN[0]), timeout=60, what="the pod's check")

    # a second value: diffed before the push, then pushed over HTTPS
    (work / "db.sops.yaml").write_text(_seal(sec, PLAIN[1]))
    (work / "consumer.yaml").write_text(_deployment(PLAIN[1]))
    _run([*git, "commit", "-q", "-am", "rotate the db password"], cwd=work)
    for fmt in ("text", "json", "yaml"):
        diff = _gitkube("diff", "--repo", str(work), "--data-dir", str(sec.data), "-o", fmt)
        assert diff.returncode == 1, diff.stdout + diff.stderr
        outputs[f"diff -o {fmt}"] = diff.stdout + diff.stderr
    assert "password" in outputs["diff -o text"]  # the changed key is named, its values are not
    url = sec.daemon.url.replace("https://", f"https://dev:{sec.admin_token}@") + "/git/repo.git"
    push = _run([*git, "push", url, "HEAD:main"], cwd=work, env={"GIT_SSL_CAINFO": str(sec.data / "pki" / "ca.crt")})
    outputs["push 2"] = (push.stdout + push.stderr).replace(sec.admin_token, "TOKEN")
    assert "Synced" in push.stderr, push.stderr
    assert "env-ok file-ok" in wait_for(lambda: _pod_says(sec, PLAIN[1]), timeout=90, what="the rotated value")

    for cmd in ("status", "history"):
        for fmt in ("text", "json", "yaml"):
            out = _gitkube(cmd, "--data-dir", str(sec.data), "-o", fmt, check=True)
            outputs[f"{cmd} -o {fmt}"] = out.stdout + out.stderr
    diff = _gitkube("diff", "--repo", str(work), "--data-dir", str(sec.data), "-o", "json")
    outputs["diff after"] = diff.stdout + diff.stderr
    outputs["events"] = sec.kubectl.run("get", "events", "-A", "-o", "yaml").stdout
    outputs["describe"] = sec.kubectl.run("-n", NS, "describe", "deploy,pods,rs").stdout
    for pod in get_json(sec.kubectl, "-n", NS, "pods")["items"]:
        outputs[f"log {pod['metadata']['name']}"] = sec.kubectl.run("-n", NS, "logs", pod["metadata"]["name"],
                                                                    check=False).stdout
    outputs.update(_api_outputs(sec))
    outputs.update(_dashboard_pages(sec, "readonly", sec.readonly_token))
    outputs.update(_dashboard_pages(sec, "admin", sec.admin_token))
    outputs["daemon log"] = sec.daemon.log()
    outputs.update(_data_files(sec.data))

    needles = [n for plain in PLAIN for n in (plain, base64.b64encode(plain.encode()).decode())]
    hits = [f"{where}: {needle}" for where, text in outputs.items() for needle in needles if needle in text]
    assert not hits, "secret values found in:\n" + "\n".join(hits)
    # the search itself works: the admin's explicit read of the Secret does carry the value
    secret = get_json(sec.kubectl, "-n", NS, "secret", "db")
    assert base64.b64decode(secret["data"]["password"]).decode() == PLAIN[1]
    assert len(outputs) > 40, sorted(outputs)


def _api_outputs(sec: Sec) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in ("/metrics", "/gitkube/v1/status", "/gitkube/v1/history"):
        for who, token in (("readonly", sec.readonly_token), ("admin", sec.admin_token)):
            reply = sec.request("GET", path, token)
            assert reply.status == 200, (path, reply.status)
            out[f"{who} {path}"] = reply.body.decode("utf-8", "replace")
    groups = [("", "/api/v1")] + [
        (g["name"], f"/apis/{g['preferredVersion']['groupVersion']}")
        for g in sec.request("GET", "/apis", sec.readonly_token).json()["groups"]]
    for _group, base in groups:
        for res in sec.request("GET", base, sec.readonly_token).json()["resources"]:
            if "/" in res["name"] or "list" not in res["verbs"]:
                continue
            path = f"{base}/{res['name']}"
            reply = sec.request("GET", path, sec.readonly_token)
            if res["name"] == "secrets" and base == "/api/v1":
                assert reply.status == 403
            else:
                assert reply.status == 200, (path, reply.status, reply.body[:200])
                admin = sec.request("GET", path, sec.admin_token)
                out[f"admin GET {path}"] = admin.body.decode("utf-8", "replace")
            out[f"readonly GET {path}"] = reply.body.decode("utf-8", "replace")
            table = sec.request("GET", path, sec.readonly_token,
                                headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
            out[f"readonly table {path}"] = table.body.decode("utf-8", "replace")
    return out


def _dashboard_pages(sec: Sec, who: str, token: str) -> dict[str, str]:
    """The dashboard as ``who`` sees it after logging in with ``token`` (every page but the live streams)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=sec.ssl_context()),
                                         urllib.request.HTTPCookieProcessor(jar))
    login = urllib.request.Request(sec.daemon.url + "/ui/login", method="POST",
                                   data=urllib.parse.urlencode({"token": token, "next": "/ui/"}).encode(),
                                   headers={"Origin": sec.daemon.url,
                                            "Content-Type": "application/x-www-form-urlencoded"})
    out: dict[str, str] = {}
    with opener.open(login, timeout=30) as resp:
        out[f"{who} dashboard /ui/ after login"] = resp.read().decode("utf-8", "replace")
    assert any(c.name == "gitkube_session" for c in jar), f"the {who} login did not start a session"
    pods = get_json(sec.kubectl, "-n", NS, "pods")["items"]
    pages = ["/ui/", "/ui/history", "/ui/plan", "/ui/plan/partial", "/ui/objects", "/ui/events",
             *(f"/ui/logs/{NS}/{p['metadata']['name']}" for p in pods)]
    for page in pages:
        with opener.open(sec.daemon.url + page, timeout=60) as resp:
            assert resp.status == 200, (who, page, resp.status)
            out[f"{who} dashboard {page}"] = resp.read().decode("utf-8", "replace")
    return out


def _data_files(data: Path) -> dict[str, str]:
    """Every file of the data dir but the pods' secret volumes and container specs (where the value must
    be for the pod to get it; the spec file is checked to be 0600)."""
    out: dict[str, str] = {}
    for path in data.rglob("*"):
        rel = path.relative_to(data)
        if not path.is_file() or path.is_symlink() or path.name == "api.sock":
            continue
        if rel.parts[0] == "pods" and "volumes" in rel.parts:
            continue
        if rel.parts[0] == "pods" and path.name == "state.json":
            # the container's spec, env included, kept for re-adoption as containerd keeps config.json
            assert path.stat().st_mode & 0o077 == 0, f"{rel} is readable by others"
            continue
        out[f"DATA/{rel}"] = path.read_bytes().decode("latin-1")
    return out
