"""examples-repo end to end: it syncs whole, and its README's walk-through works as written.

The walk-through's commands sit in examples-repo/README.md after ``<!-- walkthrough:NAME -->``
markers; each block is run in bash as written, by a new user with a fresh ``$HOME`` (so
``~/.local/share/gitkube`` is the data dir the README names), ``gitkube`` and ``kubectl`` on
``$PATH``. The only changes: ``gitkube up`` gets this test's API port and address ranges, and
the README's ingress port 8080 becomes a free one. The tests run in file order, like the
walk-through: setup and push, look around, a change, a broken change rolled back automatically,
a rollback by hand, the fix. After the first push the test checks what the README promises:
every object healthy, the Job complete, the sealed Secret decrypted and in the worker's env and
file, the HPA holding the web app at its minimum, the quotas counting, the repository's policy
denying an unlabelled workload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from tests.e2e.test_kubectl import wait_for
from tests.e2e.test_quickstart import (
    ROOT,
    UpProcess,
    UserShell,
    commands,
    shell_blocks,
    start_up,
    stop_up,
    wait_synced,
)
from tests.e2e.test_workloads import reap_containers

pytestmark = pytest.mark.e2e

API_TOKEN = "demo-api-token-7f3e1c9a"  # the plaintext of apps/hello/api-token.sops.yaml (public demo value)
FIRST_PAGE, SECOND_PAGE = "<h1>Hello from gitkube</h1>", "<h1>Hello again, gitkube</h1>"


@dataclass
class Walk:
    shell: UserShell
    demo: Path  # ~/gitkube-demo
    up: UpProcess
    blocks: dict[str, str]
    outputs: dict[str, subprocess.CompletedProcess[str]]

    def step(self, name: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        result = self.shell.run(self.blocks[f"walkthrough:{name}"], cwd=self.demo, timeout=timeout)
        self.outputs[name] = result
        return result

    def head(self) -> str:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.demo, capture_output=True, text=True,
                              check=True).stdout.strip()

    def kubectl_json(self, *args: str) -> dict[str, Any]:
        proc = self.shell.kubectl("get", *args, "-o", "json")
        assert proc.returncode == 0, proc.stderr
        return cast(dict[str, Any], json.loads(proc.stdout))

    def page(self) -> str:
        return self.shell.curl_ingress("hello.localhost")


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    base = tmp_path_factory.mktemp("ex")
    shell = UserShell.create(base)
    clone = base / "gitkube"  # the user's clone of gitkube: the walk-through copies examples-repo out of it
    shutil.copytree(ROOT / "examples-repo", clone / "examples-repo")
    blocks = shell_blocks((ROOT / "examples-repo" / "README.md").read_text())
    setup = shell.run(blocks["walkthrough:setup"], cwd=clone)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    demo = shell.home / "gitkube-demo"
    [up_line] = commands(blocks["walkthrough:up"])
    up = start_up(shell, up_line, cwd=demo)
    try:
        wait_for(lambda: "Ready" in shell.kubectl("get", "nodes").stdout.split(), timeout=30, what="the node Ready")
        yield Walk(shell, demo, up, blocks, {})
    finally:
        rc = stop_up(up)
        reap_containers(shell.data_dir)
        assert rc == 0, up.log()


def test_push_syncs_the_whole_repository(walk: Walk) -> None:
    push = walk.step("push")
    assert push.returncode == 0, push.stderr
    assert "pre-flight passed" in push.stderr and f"Synced {walk.head()[:12]}" in push.stderr, push.stderr
    status = wait_synced(walk.shell, walk.up, walk.head(), timeout=30, healthy=True)
    health = {h["object"]: h["status"] for h in status["health"]}
    expected = {"Namespace demo", "Namespace demo-jobs", "ResourceQuota demo/demo-quota", "LimitRange demo/demo-limits",
                "ResourceQuota demo-jobs/jobs-quota", "LimitRange demo-jobs/jobs-limits",
                "ValidatingAdmissionPolicy.admissionregistration.k8s.io examples-require-app-name",
                "ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io examples-require-app-name",
                "ServiceAccount demo/hello", "ConfigMap demo/hello-content", "ConfigMap demo/worker-code",
                "Secret demo/hello-api-token", "Service demo/hello", "Deployment.apps demo/hello",
                "Deployment.apps demo/worker", "Ingress.networking.k8s.io demo/hello",
                "HorizontalPodAutoscaler.autoscaling demo/hello", "Job.batch demo-jobs/migrate-v1",
                "CronJob.batch demo-jobs/report"}
    assert set(health) == expected, set(health) ^ expected
    # the diff right after the sync is clean
    diff = walk.shell.gitkube("diff", cwd=walk.demo)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_job_completed_and_cronjob_scheduled(walk: Walk) -> None:
    job = walk.kubectl_json("-n", "demo-jobs", "job", "migrate-v1")
    assert job["status"].get("succeeded") == 1, job["status"]
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    logs = walk.shell.kubectl("-n", "demo-jobs", "logs", "job/migrate-v1").stdout
    assert "migration complete" in logs, logs
    cron = walk.kubectl_json("-n", "demo-jobs", "cronjob", "report")
    assert cron["spec"]["schedule"] == "*/5 * * * *" and cron["spec"]["suspend"] is False


def test_sealed_secret_reaches_the_worker(walk: Walk) -> None:
    secret = walk.kubectl_json("-n", "demo", "secret", "hello-api-token")
    assert base64.b64decode(secret["data"]["token"]).decode() == API_TOKEN
    fingerprint = hashlib.sha256(API_TOKEN.encode()).hexdigest()[:16]

    def logs() -> str:
        out = walk.shell.kubectl("-n", "demo", "logs", "deploy/worker").stdout
        return out if "GET http" in out else ""
    out = wait_for(logs, timeout=30, what="the worker's first request")
    # env var and mounted file carry the same decrypted value; only its fingerprint is logged
    assert f"api token loaded: env and file match, sha256:{fingerprint}" in out, out
    assert API_TOKEN not in out


def test_hpa_quota_and_policy(walk: Walk) -> None:
    hpa = walk.kubectl_json("-n", "demo", "hpa", "hello")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    # the HPA owns the replica count (the Deployment in git sets none) and raised it to its minimum
    wait_for(lambda: walk.kubectl_json("-n", "demo", "deploy", "hello")["status"].get("readyReplicas") == 2,
             timeout=30, what="hello at the HPA's 2 replicas")
    quota = walk.kubectl_json("-n", "demo", "resourcequota", "demo-quota")
    assert quota["status"]["used"]["pods"] == "3", quota["status"]  # 2 web + 1 worker
    # the worker sets no resources: the LimitRange filled them in
    [worker] = walk.kubectl_json("-n", "demo", "pods", "-l", "app=worker")["items"]
    assert worker["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "50m", "memory": "32Mi"}
    # the repository's own policy denies an unlabelled workload in its namespaces
    bad = json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "nolabel", "namespace": "demo-jobs"},
                      "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                          {"name": "c", "image": "python:3.11", "command": ["true"]}]}}}})
    proc = subprocess.run(["kubectl", "--kubeconfig", str(walk.shell.data_dir / "kubeconfig"), "apply", "-f", "-"],
                          input=bad, env=walk.shell.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "examples-require-app-name" in proc.stderr, proc.stderr


def test_look_around(walk: Walk) -> None:
    look = walk.step("look")
    assert look.returncode == 0, look.stdout + look.stderr
    assert "Synced" in look.stdout and FIRST_PAGE in look.stdout, look.stdout
    assert "deployment.apps/hello" in look.stdout and "horizontalpodautoscaler.autoscaling/hello" in look.stdout
    assert "api token loaded" in look.stdout and "migration complete" in look.stdout, look.stdout


def test_change(walk: Walk) -> None:
    before = walk.head()
    change = walk.step("change")
    assert change.returncode == 0, change.stdout + change.stderr
    sha = walk.head()
    assert sha != before
    assert "gitkube.io/config-checksum" in change.stdout and "Hello again" in change.stdout, change.stdout  # diff
    assert f"Synced {sha[:12]}" in change.stderr, change.stderr  # the push
    assert SECOND_PAGE in change.stdout  # curl after the push


def test_broken_change_is_rolled_back(walk: Walk) -> None:
    healthy = walk.head()
    broken = walk.step("break")
    assert broken.returncode == 0, broken.stdout + broken.stderr
    sha = walk.head()
    assert f"RolledBack {sha[:12]} to {healthy[:12]}" in broken.stderr, broken.stderr
    assert "crash" in broken.stderr
    assert "RolledBack" in broken.stdout and "Typo in the server module" in broken.stdout  # gitkube history
    assert SECOND_PAGE in broken.stdout  # still served
    status = walk.shell.status()
    assert status["syncState"] == "RolledBack" and status["commit"] == healthy, status


def test_rollback_by_hand(walk: Walk) -> None:
    history = json.loads(walk.shell.gitkube("history", "-o", "json").stdout)
    first = history[-1]["commit"]
    rollback = walk.step("rollback")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert f"Synced {first[:12]}" in rollback.stdout, rollback.stdout
    assert FIRST_PAGE in rollback.stdout
    status = walk.shell.status()
    assert status["held"] == first and status["commit"] == first, status


def test_fix_forward_ends_the_hold(walk: Walk) -> None:
    fix = walk.step("fix")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    sha = walk.head()
    assert f"Synced {sha[:12]}" in fix.stderr, fix.stderr
    status = walk.shell.status()
    assert status["syncState"] == "Synced" and status["held"] == "" and status["commit"] == sha, status
    assert SECOND_PAGE in wait_for(walk.page, timeout=15, what="the fixed app's page")


def _kubectl(walk: Walk, *args: str, input: str | None = None, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(walk.shell.data_dir / "kubeconfig"), *args], input=input,
                          env={**walk.shell.env, **(env or {})}, capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_kubectl_verbs_on_the_examples(walk: Walk) -> None:
    """The kubectl verbs docs/kubectl.md lists as supported that other e2e tests do not run."""
    scratch = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "scratch", "namespace": "demo"},
                          "data": {"a": "1"}})
    _ok(_kubectl(walk, "apply", "-f", "-", input=scratch))
    replaced = json.loads(scratch)
    replaced["data"] = {"a": "2"}
    assert "replaced" in _ok(_kubectl(walk, "replace", "-f", "-", input=json.dumps(replaced)))
    assert "labeled" in _ok(_kubectl(walk, "-n", "demo", "label", "configmap", "scratch", "team=web"))
    assert "annotated" in _ok(_kubectl(walk, "-n", "demo", "annotate", "configmap", "scratch", "note=hi"))
    editor = walk.shell.bin_dir / "edit-a"  # a non-interactive $KUBE_EDITOR: sets data.a to "3"
    editor.write_text("#!/bin/sh\nsed -i 's/^  a: .*/  a: \"3\"/' \"$1\"\n")
    editor.chmod(0o755)
    assert "edited" in _ok(_kubectl(walk, "-n", "demo", "edit", "configmap", "scratch",
                                    env={"KUBE_EDITOR": str(editor)}))
    cm = json.loads(_ok(_kubectl(walk, "-n", "demo", "get", "configmap", "scratch", "-o", "json")))
    assert cm["data"] == {"a": "3"} and cm["metadata"]["labels"] == {"team": "web"}, cm
    assert cm["metadata"]["annotations"]["note"] == "hi"
    _ok(_kubectl(walk, "-n", "demo", "delete", "configmap", "scratch"))

    assert "condition met" in _ok(_kubectl(walk, "-n", "demo-jobs", "wait", "--for=condition=complete",
                                           "job/migrate-v1", "--timeout=30s"))
    assert "condition met" in _ok(_kubectl(walk, "-n", "demo", "wait", "--for=condition=available", "deploy/hello",
                                           "--timeout=30s"))
    assert "ScalingReplicaSet" in _ok(_kubectl(walk, "events", "-n", "demo"))
    versions = _ok(_kubectl(walk, "api-versions")).split()
    assert {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "networking.k8s.io/v1"} <= set(versions), versions
    assert "is running at" in _ok(_kubectl(walk, "cluster-info"))

    node = json.loads(_ok(_kubectl(walk, "get", "nodes", "-o", "json")))["items"][0]["metadata"]["name"]
    assert "cordoned" in _ok(_kubectl(walk, "cordon", node))
    assert "uncordoned" in _ok(_kubectl(walk, "uncordon", node))
    assert "tainted" in _ok(_kubectl(walk, "taint", "node", node, "example=1:PreferNoSchedule"))
    assert "untainted" in _ok(_kubectl(walk, "taint", "node", node, "example-"))

    # rollout verbs on a Deployment gitkube owns: the restart annotation and `paused` are not
    # fields git sets, so they are not drift
    assert "restarted" in _ok(_kubectl(walk, "-n", "demo", "rollout", "restart", "deploy/worker"))
    assert "successfully rolled out" in _ok(_kubectl(walk, "-n", "demo", "rollout", "status", "deploy/worker",
                                                     "--timeout=60s"))
    assert "paused" in _ok(_kubectl(walk, "-n", "demo", "rollout", "pause", "deploy/worker"))
    assert "resumed" in _ok(_kubectl(walk, "-n", "demo", "rollout", "resume", "deploy/worker"))

    assert "pod/sleeper created" in _ok(_kubectl(walk, "-n", "demo", "run", "sleeper", "--image=python:3.11",
                                                 "--labels=app.kubernetes.io/name=sleeper", "--command", "--",
                                                 "sleep", "300"))
    _ok(_kubectl(walk, "-n", "demo", "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=30s"))
    assert "exposed" in _ok(_kubectl(walk, "-n", "demo", "expose", "pod", "sleeper", "--port=80"))
    _ok(_kubectl(walk, "-n", "demo", "delete", "service", "sleeper"))


def test_unsupported_kubectl_verbs_fail_cleanly(walk: Walk) -> None:
    """The verbs docs/kubectl.md lists as unsupported: a clear error, never a hang or a change."""
    pod = "sleeper"
    cases = {
        ("-n", "demo", "exec", pod, "--", "true"): "could not find the requested resource",
        ("-n", "demo", "attach", pod): "could not find the requested resource",
        ("-n", "demo", "port-forward", f"pod/{pod}", "18999:80"): "could not find the requested resource",
        ("-n", "demo", "cp", "/etc/hostname", f"demo/{pod}:/tmp/x"): "could not find the requested resource",
        ("auth", "can-i", "create", "deployments"): "could not find the requested resource",
        ("explain", "deployment.spec.replicas"): "not found",
        ("-n", "demo", "autoscale", "deploy", "worker", "--min=1", "--max=2"): "could not find the requested resource",
        ("-n", "demo", "create", "configmap", "gen", "--from-literal=a=b"): "protobuf",
        ("-n", "demo-jobs", "create", "job", "manual", "--from=cronjob/report"): "protobuf",
    }
    for args, words in cases.items():
        proc = _kubectl(walk, *args, timeout=30)
        assert proc.returncode != 0 and words in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)
    _ok(_kubectl(walk, "-n", "demo", "delete", "pod", pod, "--wait=false"))
    assert _kubectl(walk, "-n", "demo", "get", "configmap", "gen").returncode != 0
