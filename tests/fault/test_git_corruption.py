"""Corrupt or truncated git objects in the hosted repository: the daemon names the commit and the
problem, keeps the last good state running (no pod touched, nothing pruned), and recovers when a
good commit arrives.

The bad commit's objects are copied into ``DATA/repo.git`` with ``git fetch`` (no hooks run), then
damaged - a loose blob overwritten with garbage, or the pack holding the whole commit truncated -
and the branch is moved with ``git update-ref``, as a disk error or a half-copied repository would
leave it. The watcher on the refs then asks the engine to sync the unreadable commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fault.conftest import NS, Cluster, configmap, git, namespace_doc, wait_for, web_deployment

pytestmark = pytest.mark.e2e


def write_tree(c: Cluster, a_value: str, with_b: bool) -> None:
    c.write("fault/namespace.yaml", namespace_doc())
    c.write("fault/web.yaml", web_deployment("v1", replicas=1))
    c.write("fault/a.yaml", configmap("a", {"value": a_value}))
    if with_b:
        c.write("fault/b.yaml", configmap("b", {"value": "kept"}))
    elif (c.work / "fault/b.yaml").exists():
        (c.work / "fault/b.yaml").unlink()


@pytest.fixture(scope="module")
def synced(cluster: Cluster) -> Iterator[Cluster]:
    write_tree(cluster, "good-0", with_b=True)
    sha = cluster.commit("good state")
    out = cluster.push().stderr
    assert f"Synced {sha[:12]}" in out, out
    yield cluster


def snapshot(c: Cluster) -> dict[str, object]:
    pods = c.live_pods()
    return {
        "pods": sorted((p["metadata"]["uid"], c.pids(p)["pid"], p["status"]["containerStatuses"][0]["restartCount"])
                       for p in pods),
        "a": c.get(f"/api/v1/namespaces/{NS}/configmaps/a")["data"],
        "b": c.get(f"/api/v1/namespaces/{NS}/configmaps/b")["data"],
        "deployment": c.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web")["metadata"]["generation"],
    }


def damage(c: Cluster, sha: str, how: str) -> list[Path]:
    """Copy ``sha``'s objects into the hosted repository and damage them; the damaged files."""
    packs = c.hosted / "objects" / "pack"
    before = set(packs.glob("*.pack"))
    limit = "1" if how == "pack" else "100000"  # below the limit git unpacks to loose objects
    git(c.hosted, "-c", f"fetch.unpackLimit={limit}", "-c", f"transfer.unpackLimit={limit}",
        "fetch", "-q", str(c.work), "main")
    if how == "loose":
        blob = git(c.work, "rev-parse", f"{sha}:fault/a.yaml").stdout.strip()
        path = c.hosted / "objects" / blob[:2] / blob[2:]
        assert path.exists(), f"blob {blob} was not stored loose"
        os.chmod(path, 0o644)
        path.write_bytes(b"\x78\x9c garbage, not a zlib stream" * 4)
        return [path]
    [pack] = set(packs.glob("*.pack")) - before
    size = pack.stat().st_size
    os.chmod(pack, 0o644)
    with pack.open("r+b") as f:
        f.truncate(size // 2)
    return [pack, pack.with_suffix(".idx")]


def move_branch(c: Cluster, sha: str) -> None:
    """Point ``main`` of the hosted repository at ``sha`` the way a crash or a copy leaves it: the
    ref file rewritten (``git update-ref`` refuses a commit it cannot read)."""
    ref = c.hosted / "refs" / "heads" / "main"
    tmp = ref.with_name("main.fault-tmp")
    tmp.write_text(sha + "\n")
    tmp.rename(ref)


def problem_reported(c: Cluster, sha: str) -> str:
    """The status or release-log text that says why the bad commit was not synced ("" while there is
    none: a sync in progress does not count)."""
    status = c.try_get("/gitkube/v1/status") or {}
    message = str(status.get("message", ""))
    if sha[:12] in message and status.get("syncState") != "Progressing" and not message.startswith("syncing"):
        return f"status {status.get('syncState')}: {message}"
    records = c.try_get("/gitkube/v1/history?limit=5") or []
    return next((f"release {r['outcome']}: {r['reason']}" for r in records
                 if r.get("commit") == sha and r.get("outcome") != "Progressing"), "")


@pytest.mark.parametrize("how", ["loose", "pack"])
def test_corrupt_head_keeps_last_good_state(synced: Cluster, how: str) -> None:
    c = synced
    good = c.status()["commit"]
    before = snapshot(c)
    write_tree(c, f"bad-{how}", with_b=False)  # a change and a prune candidate, both must not happen
    bad = c.commit(f"unreadable ({how})")
    what = damage(c, bad, how)
    move_branch(c, bad)
    reported = wait_for(lambda: problem_reported(c, bad), timeout=30, what=f"an error naming {bad[:12]} ({what})")
    lowered = reported.lower()
    print(f"\n{how}: {reported}")
    assert any(word in lowered for word in ("corrupt", "unreadable", "cannot read", "bad object", "inflate",
                                            "missing", "error")), reported
    status = c.status()
    assert status["syncState"] != "Synced" or status["commit"] != bad, status
    assert status["healthy"] == good, status
    assert snapshot(c) == before, "the last good state was touched"
    # the same unreadable head is not retried in a loop: still nothing changes a little later
    assert c.history()[0]["commit"] in (bad, good)

    # recovery. git itself refuses a push onto the damaged repository (the client sends a thin
    # pack whose deltas need the damaged objects; receive-pack cannot walk a damaged parent), so
    # the operator first does what `git fsck` suggests: drop the damaged file and point the branch
    # back at the last good commit (the engine sees the head back at the synced commit: a no-op).
    fsck = git(c.hosted, "fsck", "--no-dangling", check=False)
    assert fsck.returncode != 0, fsck.stdout + fsck.stderr
    for path in what:
        path.unlink()
    git(c.hosted, "update-ref", "refs/heads/main", good)
    # then a good commit on top of the bad one arrives by an ordinary push, syncs, and prunes b
    write_tree(c, f"good-after-{how}", with_b=False)
    fixed = c.commit(f"good again after {how}")
    push = c.push(check=False)
    assert push.returncode == 0, push.stderr
    assert f"Synced {fixed[:12]}" in push.stderr, push.stderr
    assert c.get(f"/api/v1/namespaces/{NS}/configmaps/a")["data"] == {"value": f"good-after-{how}"}
    assert c.request("GET", f"/api/v1/namespaces/{NS}/configmaps/b").status == 404
    after = snapshot_pods(c)
    assert after == before["pods"], "pods were replaced although their spec never changed"
    # put b back for the next case
    write_tree(c, f"good-after-{how}", with_b=True)
    again = c.commit("b back")
    assert f"Synced {again[:12]}" in c.push().stderr


def snapshot_pods(c: Cluster) -> object:
    return sorted((p["metadata"]["uid"], c.pids(p)["pid"], p["status"]["containerStatuses"][0]["restartCount"])
                  for p in c.live_pods())


def test_repo_reads_name_damaged_objects(tmp_path: Path) -> None:
    """The two reader bugs this suite found, without a daemon: ``ls-tree -l`` prints ``BAD`` as the
    size of an unreadable blob (was a ValueError that stopped the engine), and a branch whose commit
    is unreadable looked like no branch at all (the engine then said nothing)."""
    from gitkube.errors import SourceError
    from gitkube.gitsource.repo import GitRepo

    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.yaml").write_text("a: 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=F", "-c", "user.email=f@example.com", "commit", "-q", "-m", "one")
    sha = git(tmp_path, "rev-parse", "HEAD").stdout.strip()
    blob = git(tmp_path, "rev-parse", "HEAD:a.yaml").stdout.strip()
    obj = tmp_path / ".git" / "objects" / blob[:2] / blob[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"not a zlib stream")
    repo = GitRepo(tmp_path)
    with pytest.raises(SourceError, match=f"blob {blob} \\(a.yaml\\) is corrupt or missing"):
        repo.files(sha)
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text("1" * 40 + "\n")
    assert repo.branch_head("main") == "1" * 40
    with pytest.raises(SourceError, match="1" * 40):
        repo.resolve(repo.branch_head("main") or "")
    assert repo.branch_head("nosuch") is None
