"""Issue 8 HA end to end: two ``gitkube up`` daemons on a 3-member etcd cluster, one leader.

Daemon A has the local node (its pods run as real processes); daemon B has none (two service
proxies on one machine would fight over the same VIPs, so only a daemon with a local node runs
one). B's data dir gets A's cluster identity exactly as docs/operations.md says (CA, tokens,
encryption key, age key copied before B's first start). Both follow the same bare repository
(``--repo PATH``). The tests run in file order and build on each other: one leader; a scale
through B reconciled by A; kill -9 A: B leads within 5 s, no pod duplicated, A's pods keep
running; a commit after the failover is synced once; killing one etcd member changes nothing;
A restarted adopts its pods and follows.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitkube.testing.etcd import EtcdCluster, etcd_binary
from gitkube.testing.servers import server_container
from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_gitops import git
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import fetch, reap_containers

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (apt-get install etcd-server)")]

NS = "ha-app"
NODE = "ha-node-a"
COMMON = ["--service-cidr", "127.72.0.0/16", "--cluster-cidr", "127.124.0.0/14", "--crashloop-backoff", "1s",
          "--rollout-timeout", "60s"]
TAKEOVER_LIMIT = 5.0
# what docs/operations.md ("Several daemons on one etcd") says to copy before the second daemon's first start
IDENTITY_FILES = ["pki/ca.crt", "pki/ca.key", "pki/encryption.key", "tokens", "age.key"]


@dataclass
class Env:
    etcd: EtcdCluster
    bare: Path
    work: Path
    a: Daemon
    b: Daemon
    ka: Kubectl
    kb: Kubectl
    args_a: list[str]
    pods: dict[str, str] = field(default_factory=dict)  # pod uid -> what its server answered
    takeover: float = 0.0

    def commit_and_push(self, rel: str, text: str, message: str) -> str:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", str(self.bare), "HEAD:main")
        return git(self.work, "rev-parse", "HEAD").stdout.strip()


def call(d: Daemon, path: str, timeout: float = 5.0, method: str = "GET") -> Any:
    """Call one of the daemon's endpoints with the admin token, trusting only the cluster CA."""
    token = json.loads((d.data_dir / "tokens").read_text())["admin"]
    ctx = ssl.create_default_context(cafile=str(d.data_dir / "pki" / "ca.crt"))
    req = urllib.request.Request(d.url + path, headers={"Authorization": f"Bearer {token}"}, method=method)
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
        return json.loads(resp.read())


def leader_of(d: Daemon) -> dict[str, Any]:
    return dict(call(d, "/gitkube/v1/status")["leader"])


def identity(d: Daemon) -> str:
    return f"{socket.gethostname()}:{d.data_dir.resolve()}"


def configmap(value: str) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\n  namespace: {NS}\n"
            f"data:\n  value: \"{value}\"\n")


def deployment(replicas: int) -> str:
    container = server_container("ha")
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}},
    })


def web_pods(k: Kubectl) -> list[dict[str, Any]]:
    return [p for p in get_json(k, "-n", NS, "pods", "-l", "app=web")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
    return pod.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True"


def releases(d: Daemon) -> list[dict[str, Any]]:
    return list(call(d, "/gitkube/v1/history"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("ha")
    etcd = EtcdCluster(root / "etcd", 3)
    etcd.start()
    bare, work = root / "origin.git", root / "work"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "dev@example.com")
    git(work, "config", "user.name", "Dev")
    store = ["--store", etcd.url("/ha"), "--repo", str(bare)]
    data_a, data_b = root / "a" / "data", root / "b" / "data"
    data_a.parent.mkdir()
    data_b.parent.mkdir()
    env: Env | None = None
    try:
        env = Env(etcd, bare, work, None, None, None, None, [*COMMON, *store, "--node-name", NODE])  # type: ignore[arg-type]
        env.commit_and_push("app/namespace.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n", "ns")
        env.commit_and_push("app/marker.yaml", configmap("1"), "marker 1")
        env.a = start_daemon(data_a, extra_args=env.args_a, timeout=60)
        wait_for(lambda: leader_of(env.a)["isLeader"], timeout=15, what="A to lead")
        # the second daemon's identity: copied before its first start (docs/operations.md)
        for rel in IDENTITY_FILES:
            (data_b / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(data_a / rel, data_b / rel)
        data_b.chmod(0o700)
        env.b = start_daemon(data_b, extra_args=[*COMMON, *store, "--no-local-node"], timeout=60)
        cache = tmp_path_factory.mktemp("kubecache")
        env.ka = Kubectl(env.a.kubeconfig, cache / "a", _kubectl_binary())
        env.kb = Kubectl(env.b.kubeconfig, cache / "b", _kubectl_binary())
        yield env
    finally:
        for d in (env.b, env.a) if env is not None else ():
            if d is not None:  # A is the restarted daemon by then, if a test restarted it
                stop_daemon(d)
        reap_containers(data_a)
        etcd.close()


def test_one_leader_and_a_shared_identity(env: Env) -> None:
    a, b = leader_of(env.a), leader_of(env.b)
    assert a["isLeader"] and not b["isLeader"], (a, b)
    assert a["leader"] == b["leader"] == identity(env.a) == a["identity"]
    assert b["identity"] == identity(env.b)
    # each daemon serves its own certificate, both signed by the one CA
    assert (env.a.data_dir / "pki/apiserver.crt").read_bytes() != (env.b.data_dir / "pki/apiserver.crt").read_bytes()
    assert call(env.b, "/version")["major"] == "1"  # verified with the shared ca.crt
    # B accepts A's token (A's kubeconfig pointed at B) and decrypts a Secret written through A
    env.ka.run("-n", "default", "create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared"}, "stringData": {"k": "s3cret"}}))
    out = env.ka.run("--server", env.b.url, "-n", "default", "get", "secret", "shared",
                     "-o", "jsonpath={.data.k}").stdout
    assert out == "czNjcmV0"  # base64 of s3cret
    # only the leader's engine syncs: a follower refuses sync and rollback, naming the leader
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(env.b, "/gitkube/v1/sync", method="POST")
    assert refused.value.code == 409 and identity(env.a) in refused.value.read().decode()
    # the commit in git was synced once, by A
    [release] = releases(env.b)
    assert release["outcome"] == "Synced"
    follower = call(env.b, "/gitkube/v1/status")  # the leader's state, read from the release log
    assert follower["commit"] == release["commit"] and "not the leader" in follower["message"], follower
    assert get_json(env.kb, "-n", NS, "configmap", "marker")["data"] == {"value": "1"}


def test_scale_through_the_follower_is_reconciled_by_the_leader(env: Env) -> None:
    wait_for(lambda: "Ready" in env.kb.run("get", "node", NODE, check=False).stdout.split(), timeout=30,
             what=f"{NODE} Ready")
    env.kb.run("create", "-f", "-", input=deployment(1))
    env.kb.run("-n", NS, "scale", "deployment", "web", "--replicas", "3")
    wait_for(lambda: len([p for p in web_pods(env.kb) if ready(p)]) == 3, timeout=60, what="3 ready web pods")
    pods = web_pods(env.kb)
    assert len(pods) == 3 and all(p["spec"]["nodeName"] == NODE for p in pods)
    env.pods = {p["metadata"]["uid"]: fetch(f"http://{p['status']['podIP']}:8080/") for p in pods}
    assert all(" ha " in answer for answer in env.pods.values()), env.pods


def test_kill_the_leader_the_other_takes_over(env: Env) -> None:
    started = time.monotonic()
    env.a.proc.kill()  # kill -9: no release of the lease, pod shims left running
    env.a.proc.wait()

    def b_leads() -> bool:
        try:
            return bool(leader_of(env.b)["isLeader"])
        except OSError:
            return False

    wait_for(b_leads, timeout=15, what="B to lead")
    env.takeover = time.monotonic() - started
    print(f"\nHA takeover after kill -9 of the leader: {env.takeover:.2f}s")
    assert env.takeover < TAKEOVER_LIMIT, env.takeover
    # the new leader's controllers see A's pods (A's node is still within its grace period): no new pod
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        pods = web_pods(env.kb)
        assert {p["metadata"]["uid"] for p in pods} == set(env.pods), [p["metadata"]["name"] for p in pods]
        time.sleep(0.3)
    rs = get_json(env.kb, "-n", NS, "replicasets", "-l", "app=web")["items"]
    assert len(rs) == 1 and rs[0]["spec"]["replicas"] == 3
    # the pods' processes outlived their daemon (to be adopted when it comes back)
    for p in web_pods(env.kb):
        assert fetch(f"http://{p['status']['podIP']}:8080/") == env.pods[p["metadata"]["uid"]]
    events = get_json(env.kb, "-n", "kube-system", "events")["items"]
    messages = [e["message"] for e in events if e["reason"] == "LeaderElection"]
    assert f"{identity(env.b)} became leader" in messages, messages


def test_a_commit_after_the_failover_is_synced_once(env: Env) -> None:
    before = releases(env.b)
    sha = env.commit_and_push("app/marker.yaml", configmap("2"), "marker 2")
    wait_for(lambda: any(r["commit"] == sha and r["outcome"] == "Synced" for r in releases(env.b)), timeout=30,
             what="the new commit synced by B")
    assert get_json(env.kb, "-n", NS, "configmap", "marker")["data"] == {"value": "2"}
    time.sleep(1.0)  # a duplicate sync would show up as another record; give it the chance to
    after = releases(env.b)
    commits = [r["commit"] for r in after]
    assert len(after) == len(before) + 1 and len(set(commits)) == len(commits), after
    numbers = [r["number"] for r in after]
    assert len(set(numbers)) == len(numbers), after
    status = call(env.b, "/gitkube/v1/status")
    assert status["commit"] == sha and status["syncState"] == "Synced", status


def test_losing_one_etcd_member_changes_nothing(env: Env) -> None:
    lease = get_json(env.kb, "-n", "kube-system", "lease", "gitkube-leader")["spec"]
    env.etcd.members[0].kill()  # the member the daemons' gRPC channel picked first
    t0 = time.monotonic()
    env.kb.run("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                                                    "metadata": {"name": "after-member-loss", "namespace": NS}}))
    write_took = time.monotonic() - t0
    assert get_json(env.kb, "-n", NS, "configmap", "after-member-loss")["data"] == {"k": "v"}
    print(f"\nwrite after losing one etcd member: {write_took:.2f}s")
    time.sleep(4.0)  # longer than a lease: the leader must keep it
    assert leader_of(env.b)["isLeader"]
    again = get_json(env.kb, "-n", "kube-system", "lease", "gitkube-leader")["spec"]
    assert again["holderIdentity"] == lease["holderIdentity"] == identity(env.b)
    assert again.get("leaseTransitions") == lease.get("leaseTransitions")
    assert len(web_pods(env.kb)) == 3


def test_the_restarted_daemon_adopts_its_pods_and_follows(env: Env) -> None:
    env.a = start_daemon(env.a.data_dir, extra_args=env.args_a, timeout=60)
    assert not leader_of(env.a)["isLeader"] and leader_of(env.a)["leader"] == identity(env.b)
    wait_for(lambda: "Ready" in env.kb.run("get", "node", NODE, check=False).stdout.split(), timeout=30,
             what=f"{NODE} Ready again")
    time.sleep(2.0)  # the agent's first sync: adopting, not restarting
    pods = web_pods(env.kb)
    assert {p["metadata"]["uid"] for p in pods} == set(env.pods)
    assert all(ready(p) for p in pods)
    for p in pods:  # same processes (the answer carries the pid)
        assert fetch(f"http://{p['status']['podIP']}:8080/") == env.pods[p["metadata"]["uid"]]
    restarts = [c.get("restartCount", 0) for p in pods for c in p["status"].get("containerStatuses") or []]
    assert restarts == [0, 0, 0]
