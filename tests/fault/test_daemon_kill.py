"""kill -9 the daemon at a random moment of a sync, restart it on the same data dir, and prove the
state converges: Synced at the pushed commit, every desired object once with its content, no
duplicated pod or ReplicaSet, pods whose spec did not change adopted (same process), one release
per commit.

Each run pushes a commit that changes several ConfigMaps, renames one (the old one is pruned) and
relabels the 2-replica Deployment; every second run also changes its pod template (a rolling
update is cut short). The kill lands ``uniform(0, 3)`` seconds after the push started, from a
seeded generator (``GITKUBE_FAULT_SEED``): a failing run is replayed by its number and seed.
``GITKUBE_FAULT_RUNS`` sets the count (4 by default, 20 for the full suite).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fault.conftest import (
    FAULT_RUNS,
    FAULT_SEED,
    NS,
    Cluster,
    configmap,
    gitkube,
    namespace_doc,
    wait_for,
    web_deployment,
)

pytestmark = pytest.mark.e2e

CONFIGMAPS = 4
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}
RESULTS: list[dict[str, Any]] = []


def desired(run: int) -> tuple[dict[str, dict[str, str]], str]:
    """The ConfigMaps (name -> data) and the pod template's version of ``run``'s commit."""
    maps = {f"cm-{i}": {"run": str(run), "value": f"{run}-{i}" * (i + 1)} for i in range(CONFIGMAPS)}
    maps[f"rot-{run % 3}"] = {"run": str(run)}
    return maps, f"v{(run + 1) // 2}"  # odd runs change the template


def write_commit(c: Cluster, run: int) -> str:
    maps, version = desired(run)
    for path in c.work.glob("fault/cm/*.yaml"):
        path.unlink()
    for name, data in maps.items():
        c.write(f"fault/cm/{name}.yaml", configmap(name, data))
    c.write("fault/namespace.yaml", namespace_doc())
    c.write("fault/service.yaml", SERVICE)
    c.write("fault/web.yaml", web_deployment(version, replicas=2, labels={"run": str(run)}))
    return c.commit(f"fault run {run}")


@pytest.fixture(scope="module")
def baseline(cluster: Cluster) -> Iterator[Cluster]:
    sha = write_commit(cluster, 0)
    out = cluster.push().stderr
    assert f"Synced {sha[:12]}" in out, out
    yield cluster
    if RESULTS:
        lines = [f"run {r['run']:2d}: kill at {r['delay']:.2f}s, pushed={r['pushed']}, ready {r['restart']:.2f}s, "
                 f"converged {r['converge']:.2f}s after restart" for r in RESULTS]
        print(f"\nfault kill -9 runs (seed {FAULT_SEED}):\n  " + "\n  ".join(lines))


def convergence_gap(c: Cluster, sha: str, run: int) -> str:
    """What still differs from the converged state of ``run`` ("" once converged)."""
    status = c.try_get("/gitkube/v1/status")
    if not status or status.get("syncState") != "Synced" or status.get("commit") != sha:
        return f"status {status and {k: status.get(k) for k in ('syncState', 'commit', 'message')}}"
    _, version = desired(run)
    pods = c.live_pods()
    if len(pods) != 2:
        return f"{len(pods)} live pods"
    for pod in pods:
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        ready = [s for s in pod["status"].get("conditions") or [] if s["type"] == "Ready"]
        if env["VERSION"] != version or not ready or ready[0]["status"] != "True":
            return f"pod {pod['metadata']['name']}: version {env['VERSION']}, ready {ready}"
    dep = c.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    st = dep.get("status") or {}
    if not (st.get("replicas") == st.get("updatedReplicas") == st.get("readyReplicas") == 2
            and st.get("observedGeneration") == dep["metadata"]["generation"]):
        return f"deployment status {st}"
    return ""


def wait_converged(c: Cluster, sha: str, run: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    gap = convergence_gap(c, sha, run)
    while gap:
        if time.monotonic() > deadline:
            log = c.daemon.log().splitlines()[-60:]
            raise AssertionError(f"run {run}: not converged at {sha[:12]} after {timeout}s: {gap}\n"
                                 + "\n".join(log))
        time.sleep(0.2)
        gap = convergence_gap(c, sha, run)


def check_state(c: Cluster, sha: str, run: int, before: dict[str, int], rolled: bool) -> None:
    maps, version = desired(run)
    # every desired object exactly once, with the desired content; the renamed one pruned
    live = {m["metadata"]["name"]: m for m in c.items(f"/api/v1/namespaces/{NS}/configmaps")
            if m["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "gitkube"}
    assert sorted(live) == sorted(maps), (sorted(live), sorted(maps))
    for name, data in maps.items():
        assert live[name]["data"] == data, (name, live[name]["data"], data)
    dep = c.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    assert dep["metadata"]["labels"]["run"] == str(run) and dep["spec"]["replicas"] == 2
    assert c.get(f"/api/v1/namespaces/{NS}/services/web")["spec"]["selector"] == {"app": "web"}
    # one active ReplicaSet, exactly two pods of the Deployment, every one on the new template
    rss = c.items(f"/apis/apps/v1/namespaces/{NS}/replicasets?labelSelector=app=web")
    active = [rs["metadata"]["name"] for rs in rss if rs["spec"].get("replicas")]
    assert len(active) == 1, active
    pods = c.live_pods()
    assert len(pods) == 2 and len({p["metadata"]["uid"] for p in pods}) == 2, [p["metadata"]["name"] for p in pods]
    # terminating pods go away and no supervisor is left over: one shim per running container
    wait_for(lambda: len(c.items(f"/api/v1/namespaces/{NS}/pods")) == 2, timeout=30, what="terminating pods gone")
    wait_for(lambda: len(c.shims()) == 2, timeout=30, what="exactly two container supervisors")
    # pods that were running before the kill and are still desired were adopted, not restarted
    after = {p["metadata"]["uid"]: c.pids(p)["pid"] for p in pods}
    kept = set(before) & set(after)
    if not rolled:
        assert set(after) == set(before), "pods were replaced although their spec did not change"
    for uid in kept:
        assert after[uid] == before[uid], f"pod {uid}: process {before[uid]} replaced by {after[uid]}"
    for pod in pods:
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0, pod["status"]
    # the release log: one record per commit, numbers unique, this commit Synced
    history = c.history()
    commits = Counter(r["commit"] for r in history)
    assert all(n == 1 for n in commits.values()), commits
    numbers = [r["number"] for r in history]
    assert len(numbers) == len(set(numbers)), numbers
    top = history[0]
    assert top["commit"] == sha and top["outcome"] == "Synced", top


@pytest.mark.parametrize("run", range(1, FAULT_RUNS + 1))
def test_kill9_during_sync_converges(baseline: Cluster, run: int) -> None:
    c = baseline
    rng = random.Random(FAULT_SEED * 1000 + run)
    delay = rng.uniform(0.0, 3.0)
    before = {p["metadata"]["uid"]: c.pids(p)["pid"] for p in c.live_pods()}
    assert len(before) == 2
    rolled = desired(run)[1] != desired(run - 1)[1]
    sha = write_commit(c, run)
    push = c.push_async()
    time.sleep(delay)  # the seeded fault point, not a wait for something to happen
    c.kill9()
    push.communicate(timeout=60)
    restart_took = c.restart()
    start = time.monotonic() - restart_took
    pushed = c.hosted_head() == sha
    if not pushed:  # killed before the ref moved: the push was refused, the user pushes again
        out = c.push().stderr
        assert f"Synced {sha[:12]}" in out, out
    wait_converged(c, sha, run, timeout=90)
    took = time.monotonic() - start
    status = gitkube("status", "--data-dir", str(c.data), "-o", "json")
    assert status.returncode == 0 and '"syncState": "Synced"' in status.stdout, status.stdout + status.stderr
    check_state(c, sha, run, before, rolled)
    RESULTS.append({"run": run, "delay": delay, "pushed": pushed, "restart": restart_took, "converge": took})
