"""GitRepo against real repositories made with the git CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitkube.errors import SourceError
from gitkube.gitsource.repo import GitRepo, TreeFile

from .gitkit import commit, git, git_env, init_repo

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "r", {
        "apps/web/deploy.yaml": "kind: Deployment\n",
        "apps/web/svc.yml": "kind: Service\n",
        "apps2/x.yaml": "kind: ConfigMap\n",
        "README.md": "hello\n",
    })


def test_not_a_repository(tmp_path: Path, repo_dir: Path) -> None:
    with pytest.raises(SourceError, match="is not a git repository"):
        GitRepo(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="plain is not a git repository"):
        GitRepo(tmp_path / "plain")
    # a subdirectory of a working tree is not silently taken for its parent repository
    with pytest.raises(SourceError, match="is not a git repository"):
        GitRepo(repo_dir / "apps")


def test_resolve_fields(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"a.yaml": "x: 1\n"}, "Add a\n\nLonger body\nline two",
                 GIT_AUTHOR_DATE="2026-11-27T03:02:03+02:00", GIT_AUTHOR_NAME="Grace Hopper",
                 GIT_AUTHOR_EMAIL="grace@example.com")
    repo = GitRepo(repo_dir)
    assert not repo.bare and repo.git_dir == repo_dir / ".git"
    info = repo.resolve("main")
    assert info.sha == sha
    assert (info.author, info.email, info.time) == ("Grace Hopper", "grace@example.com", "2026-11-27T01:02:03Z")
    assert info.message == "Add a\n\nLonger body\nline two"
    assert info.summary == "Add a"
    for rev in ("HEAD", sha, sha[:10], "refs/heads/main"):
        assert repo.resolve(rev).sha == sha
    assert repo.resolve("HEAD~1").summary == "initial"


@pytest.mark.parametrize("rev", ["nope", "main~9", "-p", "refs/heads/other", ""])
def test_resolve_unknown_names_rev(repo_dir: Path, rev: str) -> None:
    with pytest.raises(SourceError) as err:
        GitRepo(repo_dir).resolve(rev)
    assert repr(rev) in str(err.value) and str(repo_dir) in str(err.value)


def test_resolve_a_tree_is_not_a_commit(repo_dir: Path) -> None:
    tree = git(repo_dir, "rev-parse", "HEAD^{tree}")
    with pytest.raises(SourceError, match=tree):
        GitRepo(repo_dir).resolve(tree)


def test_branch_head(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    head = git(repo_dir, "rev-parse", "HEAD")
    assert repo.branch_head("main") == head
    assert repo.branch_head("other") is None
    git(repo_dir, "branch", "team/app")
    assert repo.branch_head("team/app") == head
    git(repo_dir, "pack-refs", "--all")
    assert repo.branch_head("team/app") == head


def test_files_whole_tree_and_subpath(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    head = repo.resolve("HEAD").sha
    files = repo.files(head)
    assert sorted(f.path for f in files) == ["README.md", "apps/web/deploy.yaml", "apps/web/svc.yml",
                                             "apps2/x.yaml"]
    web = repo.files(head, "apps")
    assert sorted(f.path for f in web) == ["apps/web/deploy.yaml", "apps/web/svc.yml"]  # not apps2/
    for spelling in ("./apps/web/", "/apps/web", "apps/web", "apps//web"):
        assert {f.path for f in repo.files(head, spelling)} == {"apps/web/deploy.yaml", "apps/web/svc.yml"}
    assert repo.files(head, ".") == repo.files(head, "") == files
    deploy = next(f for f in files if f.path == "apps/web/deploy.yaml")
    assert deploy == TreeFile("apps/web/deploy.yaml", git(repo_dir, "rev-parse", "HEAD:apps/web/deploy.yaml"),
                              "100644", len("kind: Deployment\n"))


def test_files_modes_symlinks_odd_names_and_submodules(repo_dir: Path) -> None:
    (repo_dir / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo_dir / "run.sh", 0o755)
    os.symlink("../../etc/passwd", repo_dir / "apps" / "escape.yaml")
    (repo_dir / "apps" / "wéird name\tx*.yaml").write_text("a: 1\n")
    sub = init_repo(repo_dir.parent / "sub", {"s.yaml": "s: 1\n"})
    git(repo_dir, "update-index", "--add", "--cacheinfo", f"160000,{git(sub, 'rev-parse', 'HEAD')},apps/sub")
    head = commit(repo_dir, {}, "modes")
    files = {f.path: f for f in GitRepo(repo_dir).files(head)}
    assert files["run.sh"].mode == "100755"
    link = files["apps/escape.yaml"]
    assert link.mode == "120000" and link.is_symlink and link.size == len("../../etc/passwd")
    assert GitRepo(repo_dir).read([link.blob])[link.blob] == b"../../etc/passwd"
    assert "apps/wéird name\tx*.yaml" in files
    assert "apps/sub" not in files  # a submodule is not a blob


def test_files_missing_subpath_names_path_and_commit(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    head = repo.resolve("HEAD").sha
    with pytest.raises(SourceError) as err:
        repo.files(head, "deploy/prod")
    assert "'deploy/prod'" in str(err.value) and head in str(err.value)
    with pytest.raises(SourceError, match="outside the repository"):
        repo.files(head, "../etc")
    with pytest.raises(SourceError, match="0123456789abcdef"):
        repo.files("0123456789abcdef0123456789abcdef01234567")


def test_read_many_blobs(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    payload = bytes(range(256)) * 100 + b"\n\n"  # binary, newlines, NULs: sizes drive the parser
    head = commit(repo_dir, {"bin.yaml": payload, "empty.yaml": ""}, "binary")
    files = {f.path: f for f in repo.files(head)}
    blobs = [f.blob for f in files.values()]
    data = repo.read(blobs + blobs[:2])
    assert set(data) == set(blobs)
    assert data[files["bin.yaml"].blob] == payload
    assert data[files["empty.yaml"].blob] == b""
    assert data[files["README.md"].blob] == b"hello\n"
    assert repo.read([]) == {}


def test_read_errors(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    with pytest.raises(SourceError, match="0{40}.*missing"):
        repo.read(["0" * 40])
    with pytest.raises(SourceError, match="is not a blob id"):
        repo.read(["HEAD"])
    tree = git(repo_dir, "rev-parse", "HEAD^{tree}")
    with pytest.raises(SourceError, match=f"{tree} is a tree"):
        repo.read([tree])


def test_changed_paths(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    old = repo.resolve("HEAD").sha
    git(repo_dir, "mv", "apps2/x.yaml", "apps2/y.yaml")
    (repo_dir / "README.md").unlink()
    new = commit(repo_dir, {"apps/web/svc.yml": "kind: Service\nx: 1\n", "new.yaml": "n: 1\n"}, "change")
    assert repo.changed_paths(old, new) == {"apps2/x.yaml", "apps2/y.yaml", "README.md",
                                            "apps/web/svc.yml", "new.yaml"}
    assert repo.changed_paths(new, new) == set()
    assert repo.changed_paths("0" * 40, old) == {"README.md", "apps/web/deploy.yaml", "apps/web/svc.yml",
                                                 "apps2/x.yaml"}
    with pytest.raises(SourceError, match="nope"):
        repo.changed_paths("nope", new)


def test_log_and_ancestry(repo_dir: Path) -> None:
    repo = GitRepo(repo_dir)
    first = repo.resolve("HEAD").sha
    shas = [commit(repo_dir, {"n.yaml": f"n: {i}\n"}, f"change {i}") for i in range(3)]
    log = repo.log("main")
    assert [c.sha for c in log] == [*reversed(shas), first]
    assert [c.summary for c in repo.log("main", limit=2)] == ["change 2", "change 1"]
    assert repo.log("unborn") == []
    assert repo.is_ancestor(first, shas[-1]) and repo.is_ancestor(shas[-1], shas[-1])
    assert not repo.is_ancestor(shas[-1], first)
    with pytest.raises(SourceError, match="nope"):
        repo.is_ancestor("nope", first)


def test_bare_repository_and_linked_worktree(repo_dir: Path, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", "--bare", str(repo_dir), "bare.git")
    bare = GitRepo(tmp_path / "bare.git")
    head = git(repo_dir, "rev-parse", "HEAD")
    assert bare.bare and bare.branch_head("main") == head
    assert len(bare.files(head, "apps")) == 2
    git(repo_dir, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    wt = GitRepo(tmp_path / "wt")
    assert wt.common_dir == repo_dir / ".git" and wt.git_dir != wt.common_dir
    sha = commit(tmp_path / "wt", {"f.yaml": "f: 1\n"}, "on feature")
    assert wt.branch_head("feature") == sha == GitRepo(repo_dir).branch_head("feature")
    assert wt.resolve("HEAD").sha == sha


def _corrupt(repo_dir: Path, sha: str) -> None:
    obj = repo_dir / ".git" / "objects" / sha[:2] / sha[2:]
    os.chmod(obj, stat.S_IRUSR | stat.S_IWUSR)
    obj.write_bytes(b"this is not a zlib stream")


def test_corrupt_commit_and_blob_give_source_errors(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"c.yaml": "c: 1\n"}, "to be corrupted")
    repo = GitRepo(repo_dir)
    blob = next(f.blob for f in repo.files(sha) if f.path == "c.yaml")
    _corrupt(repo_dir, blob)
    with pytest.raises(SourceError, match=f"cannot read blob {blob}"):
        repo.read([blob])
    _corrupt(repo_dir, sha)
    with pytest.raises(SourceError, match=sha):
        repo.resolve(sha)
    with pytest.raises(SourceError, match=sha):
        repo.files(sha)


def test_reads_quarantined_objects_inside_pre_receive(repo_dir: Path, tmp_path: Path) -> None:
    """A pre-receive hook sees the pushed commit only through git's quarantine environment."""
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    hook = server / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\nread old new ref\nexec {sys.executable} -c '"
        "import sys; from pathlib import Path; from gitkube.gitsource.repo import GitRepo\n"
        "r = GitRepo(Path(\".\")); c = r.resolve(sys.argv[1]); fs = r.files(c.sha, \"apps/web\")\n"
        "print(\"HOOK\", c.summary, sorted(r.read(f.blob for f in fs).values()), file=sys.stderr)\n"
        "sys.exit(1)' \"$new\"\n")
    os.chmod(hook, 0o755)
    commit(repo_dir, {"apps/web/extra.yaml": "kind: Extra\n"}, "quarantined commit")
    res = subprocess.run(["git", "push", str(server), "main"], cwd=repo_dir, capture_output=True, text=True,
                         env=git_env(PYTHONPATH=str(ROOT)))
    assert res.returncode != 0  # the hook refused, so the objects never left quarantine
    assert "HOOK quarantined commit [b'kind: Deployment\\n', b'kind: Extra\\n', b'kind: Service\\n']" \
        in res.stderr, res.stderr
    assert GitRepo(server).branch_head("main") is None
