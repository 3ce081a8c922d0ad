"""Issue 4 end to end: git push deploys, rolls, rolls back, refuses, repairs drift, prunes safely.

One daemon with a local node (real sandboxed processes) serves its hosted repository; a working
clone pushes to it with the real git CLI over the file transport and over smart HTTPS with the
token as the password. The tests run in file order and build on each other, like a user's day:
each push's hook output is what the pusher sees.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitkube.testing.servers import server_container
from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import fetch, reap_containers

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAEMON_ARGS = ["--node-name", "gitops-node", "--crashloop-backoff", "1s", "--rollout-timeout", "60s",
               "--service-cidr", "127.95.0.0/16", "--cluster-cidr", "127.192.0.0/11"]
NS = "shop"


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def gitkube(*args: str, check: bool = False, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "gitkube", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"gitkube {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def web_deployment(version: str, replicas: int = 1, command: list[str] | None = None) -> str:
    container = server_container(version, command=command)
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}},
    }, indent=2)


SERVICE = f"""# the web app's Service
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {NS}
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: http
"""


@dataclass
class Env:
    daemon: Daemon
    kubectl: Kubectl
    work: Path

    @property
    def hosted(self) -> Path:
        return self.daemon.data_dir / "repo.git"

    def write(self, rel: str, text: str) -> None:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        return git(self.work, "rev-parse", "HEAD").stdout.strip()

    def push(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return git(self.work, "push", str(self.hosted), "HEAD:main", check=check)

    def history(self) -> list[dict]:
        return json.loads(gitkube("history", "--data-dir", str(self.daemon.data_dir), "-o", "json", check=True).stdout)


@contextlib.contextmanager
def gitops_env(tmp_path_factory: pytest.TempPathFactory, name: str, args: list[str], node: str) -> Iterator[Env]:
    """A daemon started with ``args`` whose local ``node`` is Ready, and an empty working repository
    to push from; the daemon is stopped and its pods' shims reaped afterwards."""
    data = tmp_path_factory.mktemp(name) / "data"
    d = start_daemon(data, extra_args=args)
    try:
        k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
        wait_for(lambda: "Ready" in k.run("get", "node", node, check=False).stdout.split(), timeout=30,
                 what=f"{node} Ready")
        work = tmp_path_factory.mktemp("work")
        git(work, "init", "-q", "-b", "main")
        git(work, "config", "user.email", "dev@example.com")
        git(work, "config", "user.name", "Dev")
        yield Env(d, k, work)
    finally:
        stop_daemon(d)
        reap_containers(data)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with gitops_env(tmp_path_factory, "gitops", DAEMON_ARGS, "gitops-node") as e:
        yield e


def test_push_deploys(env: Env) -> None:
    env.write("shop/namespace.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    env.write("shop/web.yaml", web_deployment("v1"))
    env.write("shop/service.yaml", SERVICE)
    env.write("shop/config.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {NS}\n"
                                  "data:\n  color: blue\n")
    for rel in ("namespace.yaml", "apps/hello/configmap.yaml", "apps/hello/serviceaccount.yaml",
                "apps/hello/deployment.yaml", "apps/hello/service.yaml"):
        env.write(f"examples/{rel}", (ROOT / "examples-repo" / rel).read_text())
    first = env.commit("shop v1 and the examples")
    push = env.push()
    out = push.stderr
    assert "pre-flight passed" in out, out
    assert f"Synced {first[:12]}" in out, out
    pods = get_json(env.kubectl, "-n", NS, "pods", "-l", "app=web")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    ip = get_json(env.kubectl, "-n", NS, "svc", "web")["spec"]["clusterIP"]
    assert " v1 " in wait_for(lambda: _try_fetch(f"http://{ip}/"), timeout=15, what="web v1 through the Service")
    demo_ip = get_json(env.kubectl, "-n", "demo", "svc", "hello")["spec"]["clusterIP"]
    assert "Hello from gitkube" in wait_for(lambda: _try_fetch(f"http://{demo_ip}/"), timeout=15, what="examples app")
    [release] = env.history()
    assert release["outcome"] == "Synced" and release["commit"] == first and release["author"] == "Dev"


def _try_fetch(url: str) -> str:
    try:
        return fetch(url)
    except OSError:
        return ""


SECRET_PLAINTEXT = "s3cr3t-correct-horse-battery"


def test_sealed_secret_reaches_the_cluster_and_no_output(env: Env) -> None:
    plain = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {NS}\n"
             f"stringData:\n  password: {SECRET_PLAINTEXT}\n")
    sealed = subprocess.run([sys.executable, "-m", "gitkube", "seal", "--data-dir", str(env.daemon.data_dir)],
                            input=plain, capture_output=True, text=True, timeout=60, check=True).stdout
    assert SECRET_PLAINTEXT not in sealed and "ENC[AES256_GCM" in sealed
    env.write("shop/db.sops.yaml", sealed)
    sha = env.commit("sealed db password")
    push = env.push()
    assert f"Synced {sha[:12]}" in push.stderr, push.stderr
    secret = get_json(env.kubectl, "-n", NS, "secret", "db")
    import base64
    assert base64.b64decode(secret["data"]["password"]).decode() == SECRET_PLAINTEXT
    outputs = [push.stdout, push.stderr, env.daemon.log(),
               gitkube("history", "--data-dir", str(env.daemon.data_dir), "-o", "json").stdout,
               gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir), "-o", "json").stdout,
               env.kubectl.run("-n", NS, "get", "events", "-o", "json").stdout,
               env.kubectl.run("-n", NS, "get", "secret", "db", "-o", "json", check=False,
                               kubeconfig=env.daemon.readonly_kubeconfig).stdout,
               *(f.read_bytes().decode("latin-1") for f in env.daemon.data_dir.glob("state.db*"))]
    encoded = base64.b64encode(SECRET_PLAINTEXT.encode()).decode()
    for text in outputs:
        assert SECRET_PLAINTEXT not in text and encoded not in text


def test_diff_after_apply_is_clean(env: Env) -> None:
    result = gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir),
                             "-o", "json").stdout)
    assert doc["inSync"] is True and doc["problems"] == []


def test_change_rolls_the_deployment(env: Env) -> None:
    env.write("shop/web.yaml", web_deployment("v2"))
    second = env.commit("web v2")
    diff = gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir))
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert "Deployment.apps shop/web" in diff.stdout and "v2" in diff.stdout
    out = env.push().stderr
    assert f"Synced {second[:12]}" in out, out
    ip = get_json(env.kubectl, "-n", NS, "svc", "web")["spec"]["clusterIP"]
    assert " v2 " in fetch(f"http://{ip}/")
    assert [r["outcome"] for r in env.history()][:2] == ["Synced", "Synced"]


def test_configmap_edit_rolls_the_pods(env: Env) -> None:
    # the examples app serves its page from a ConfigMap volume; mounted files are not refreshed in
    # running pods, so the new page proves new pods - rolled because the config checksum changed
    before = {p["metadata"]["name"] for p in get_json(env.kubectl, "-n", "demo", "pods", "-l", "app=hello")["items"]}
    page = (ROOT / "examples-repo" / "apps/hello/configmap.yaml").read_text().replace("Hello from gitkube",
                                                                                      "Hello again")
    env.write("examples/apps/hello/configmap.yaml", page)
    sha = env.commit("new page")
    assert f"Synced {sha[:12]}" in env.push().stderr
    ip = get_json(env.kubectl, "-n", "demo", "svc", "hello")["spec"]["clusterIP"]
    assert "Hello again" in wait_for(lambda: _try_fetch(f"http://{ip}/"), timeout=15, what="the new page")
    # old pods may still be terminating (a finished rollout, as in Kubernetes, does not wait for them)
    after = {p["metadata"]["name"] for p in get_json(env.kubectl, "-n", "demo", "pods", "-l", "app=hello")["items"]
             if not p["metadata"].get("deletionTimestamp")}
    assert after and before.isdisjoint(after)
    template = get_json(env.kubectl, "-n", "demo", "deploy", "hello")["spec"]["template"]["metadata"]
    assert "gitkube.io/config-checksum" in template["annotations"]


def test_broken_commit_rolls_back(env: Env) -> None:
    releases_before = len(env.history())
    env.write("shop/web.yaml", web_deployment("v3", command=[sys.executable, "-c", "import sys; sys.exit(3)"]))
    broken = env.commit("web v3 (broken)")
    out = env.push().stderr
    assert f"RolledBack {broken[:12]}" in out, out
    top = env.history()[0]
    assert top["commit"] == broken and top["outcome"] == "RolledBack", top
    assert "crash" in top["reason"].lower(), top["reason"]
    dep = get_json(env.kubectl, "-n", NS, "deploy", "web")
    env_vars = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env_vars["VERSION"] == "v2"
    status = json.loads(gitkube("status", "--data-dir", str(env.daemon.data_dir), "-o", "json", check=True).stdout)
    assert status["syncState"] == "RolledBack" and status["commit"] != broken, status
    assert len(env.history()) == releases_before + 1  # one record, RolledBack: not retried


def test_invalid_push_is_refused(env: Env) -> None:
    before = git(env.hosted, "rev-parse", "main").stdout.strip()
    env.write("shop/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n")
    env.write("shop/typo.yaml", f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\n  namespace: {NS}\n"
                                "spec:\n  replicass: 2\n")
    env.commit("bad manifests")
    push = env.push(check=False)
    assert push.returncode != 0
    assert "push refused" in push.stderr
    assert "shop/broken.yaml:4" in push.stderr, push.stderr
    assert "shop/typo.yaml:7:3" in push.stderr and "replicass" in push.stderr, push.stderr
    assert git(env.hosted, "rev-parse", "main").stdout.strip() == before
    diff = gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir))
    assert diff.returncode == 2 and "shop/broken.yaml:4" in diff.stderr
    git(env.work, "reset", "-q", "--hard", "HEAD~1")


def test_rollback_revert_writes_a_commit(env: Env) -> None:
    first = env.history()[-1]["commit"]
    result = gitkube("rollback", first, "--revert", "--data-dir", str(env.daemon.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrote revert commit" in result.stdout
    message = git(env.hosted, "log", "-1", "--format=%B", "main").stdout
    assert message.startswith(f"Revert to {first[:12]}")
    head = git(env.hosted, "rev-parse", "main").stdout.strip()
    assert git(env.hosted, "rev-parse", "main^{tree}").stdout == git(env.hosted, "rev-parse", f"{first}^{{tree}}").stdout
    ip = get_json(env.kubectl, "-n", NS, "svc", "web")["spec"]["clusterIP"]
    assert " v1 " in fetch(f"http://{ip}/")
    diff = gitkube("diff", "--repo", str(env.hosted), "--rev", "main", "--data-dir", str(env.daemon.data_dir))
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert env.history()[0]["commit"] == head and env.history()[0]["outcome"] == "Synced"
    git(env.work, "pull", "-q", str(env.hosted), "main")


def test_rollback_holds_until_the_next_commit(env: Env) -> None:
    synced = [r["commit"] for r in env.history() if r["outcome"] == "Synced"]
    head, earlier = synced[0], synced[1]
    result = gitkube("rollback", earlier, "--data-dir", str(env.daemon.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(gitkube("status", "--data-dir", str(env.daemon.data_dir), "-o", "json", check=True).stdout)
    assert status["held"] == earlier and status["commit"] == earlier
    ip = get_json(env.kubectl, "-n", NS, "svc", "web")["spec"]["clusterIP"]
    assert " v2 " in fetch(f"http://{ip}/")  # the earlier point serves v2
    # the next commit ends the hold
    env.write("shop/web.yaml", web_deployment("v1"))
    assert git(env.hosted, "rev-parse", "main").stdout.strip() == head
    env.write("shop/extra.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: {NS}\n")
    sha = env.commit("after the hold")
    assert f"Synced {sha[:12]}" in env.push().stderr
    status = json.loads(gitkube("status", "--data-dir", str(env.daemon.data_dir), "-o", "json", check=True).stdout)
    assert status["held"] == "" and status["commit"] == sha
    assert " v1 " in fetch(f"http://{ip}/")


def test_drift_is_reverted(env: Env) -> None:
    env.kubectl.run("-n", NS, "scale", "deploy/web", "--replicas=3")
    start = time.monotonic()
    wait_for(lambda: get_json(env.kubectl, "-n", NS, "deploy", "web")["spec"]["replicas"] == 1, timeout=5,
             what="drift reverted")
    assert time.monotonic() - start < 5
    events = get_json(env.kubectl, "-n", NS, "events")["items"]
    assert any(e["reason"] == "DriftDetected" for e in events)
    env.kubectl.run("-n", NS, "patch", "configmap", "settings", "--type=merge", "-p", '{"data":{"color":"red"}}')
    wait_for(lambda: get_json(env.kubectl, "-n", NS, "configmap", "settings")["data"]["color"] == "blue", timeout=5,
             what="configmap drift reverted")


def test_prune_safety(env: Env) -> None:
    env.write("shop/keep.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: {NS}\n"
                                "  annotations:\n    gitkube.io/prune: disabled\ndata:\n  a: b\n")
    env.write("shop/gone.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n  namespace: {NS}\n"
                                "data:\n  a: b\n")
    env.commit("two more configmaps")
    assert "Synced" in env.push().stderr
    (env.work / "shop/keep.yaml").unlink()
    (env.work / "shop/gone.yaml").unlink()
    env.commit("drop them")
    out = env.push().stderr
    assert "ConfigMap shop/gone deleted" in out, out
    assert env.kubectl.run("-n", NS, "get", "configmap", "gone", check=False).returncode != 0
    assert env.kubectl.run("-n", NS, "get", "configmap", "keep", check=False).returncode == 0
    # an empty desired set is refused, not a reason to delete everything
    for path in sorted(env.work.rglob("*.yaml")):
        path.unlink()
    env.commit("delete everything by mistake")
    push = env.push(check=False)
    assert push.returncode != 0 and "refusing to prune" in push.stderr, push.stderr
    git(env.work, "reset", "-q", "--hard", "HEAD~1")
    assert env.kubectl.run("-n", NS, "get", "deploy", "web", check=False).returncode == 0


def test_push_over_https_with_the_token(env: Env) -> None:
    from ruamel.yaml import YAML

    def token(path: Path) -> str:
        return str(YAML(typ="safe").load(path.read_text())["users"][0]["user"]["token"])

    ca = env.daemon.data_dir / "pki" / "ca.crt"
    env.write("shop/config.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {NS}\n"
                                  "data:\n  color: green\n")
    sha = env.commit("green over https")
    readonly = f"https://reader:{token(env.daemon.readonly_kubeconfig)}@127.0.0.1:{env.daemon.port}/git/repo.git"
    tls = {"GIT_SSL_CAINFO": str(ca)}  # git trusts the daemon's CA (the env var beats http.sslCAInfo)
    refused = git(env.work, "push", readonly, "HEAD:main", check=False, env=tls)
    assert refused.returncode != 0 and "403" in refused.stderr, refused.stderr
    url = f"https://deploy:{token(env.daemon.kubeconfig)}@127.0.0.1:{env.daemon.port}/git/repo.git"
    out = git(env.work, "push", url, "HEAD:main", env=tls).stderr
    assert f"Synced {sha[:12]}" in out, out
    assert get_json(env.kubectl, "-n", NS, "configmap", "settings")["data"]["color"] == "green"
    bad = f"https://deploy:wrong@127.0.0.1:{env.daemon.port}/git/repo.git"
    assert git(env.work, "ls-remote", bad, check=False, env=tls).returncode != 0


def test_status_and_history_commands(env: Env) -> None:
    text = gitkube("history", "--data-dir", str(env.daemon.data_dir), check=True).stdout
    assert "RolledBack" in text and "Synced" in text
    status = json.loads(gitkube("status", "--data-dir", str(env.daemon.data_dir), "-o", "json", check=True).stdout)
    assert status["syncState"] == "Synced"
    health = {h["object"]: h["status"] for h in status["health"]}
    assert health[f"Deployment.apps {NS}/web"] == "Healthy"
    assert health[f"Service {NS}/web"] == "Healthy"
