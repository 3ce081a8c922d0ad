"""ensure_hosted_repo: a configured bare repository whose hooks exec the given command."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from gitkube.errors import SourceError
from gitkube.gitsource.hosted import ensure_hosted_repo, hook_script

from .gitkit import commit, git, git_env, init_repo


def _hook_program(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def test_creates_configured_bare_repository(tmp_path: Path) -> None:
    data = tmp_path / "data dir"
    argv = ["/usr/bin/python3", "-m", "gitkube", "hook", "--data-dir", str(data)]
    repo = ensure_hosted_repo(data, branch="prod", hook_argv=argv)
    path = data / "repo.git"
    assert repo.path == path and repo.bare
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert (path / "HEAD").read_text() == "ref: refs/heads/prod\n"
    config = {key: git(path, "config", key) for key in
              ("http.receivepack", "receive.denyNonFastForwards", "receive.denyDeletes", "core.bare")}
    assert config == {"http.receivepack": "true", "receive.denyNonFastForwards": "false",
                      "receive.denyDeletes": "true", "core.bare": "true"}
    for hook in ("pre-receive", "post-receive"):
        script = path / "hooks" / hook
        assert os.access(script, os.X_OK)
        assert script.read_text() == hook_script(argv, hook)
        assert f"exec /usr/bin/python3 -m gitkube hook --data-dir '{data}' {hook}\n" in script.read_text()


def test_idempotent_and_rewrites_hooks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ensure_hosted_repo(data, hook_argv=["/bin/true"])
    work = init_repo(tmp_path / "work", {"a.yaml": "a: 1\n"})
    git(work, "push", "-q", str(data / "repo.git"), "main")
    (data / "repo.git" / "hooks" / "pre-receive").write_text("#!/bin/sh\nexit 1\n")
    os.chmod(data / "repo.git", 0o755)
    repo = ensure_hosted_repo(data, hook_argv=["/bin/echo", "it's quoted"])
    assert repo.branch_head("main") == git(work, "rev-parse", "HEAD")  # content kept
    assert (data / "repo.git" / "hooks" / "pre-receive").read_text().endswith(
        "exec /bin/echo 'it'\"'\"'s quoted' pre-receive\n")
    assert stat.S_IMODE((data / "repo.git").stat().st_mode) == 0o700


def test_global_hooks_path_does_not_disable_our_hooks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = tmp_path / "ran"
    prog = _hook_program(tmp_path / "hook.sh", f'echo "$1" >> "{marker}"\n')
    ensure_hosted_repo(data, hook_argv=[str(prog)])
    work = init_repo(tmp_path / "work", {"a.yaml": "a: 1\n"})
    gitconfig = tmp_path / "global.gitconfig"
    gitconfig.write_text(f"[core]\n\thooksPath = {tmp_path / 'elsewhere'}\n")
    git(work, "push", "-q", str(data / "repo.git"), "main", env=git_env(GIT_CONFIG_GLOBAL=str(gitconfig)))
    assert marker.read_text() == "pre-receive\npost-receive\n"


def test_push_over_file_transport_runs_hooks_with_stdin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prog = _hook_program(tmp_path / "hook.sh", 'while read old new ref; do echo "hello from $1: $ref $new" >&2; done\n'
                                               '[ "$1" = pre-receive ] && grep -q deny "$0.deny" 2>/dev/null'
                                               ' && { echo "refused by policy" >&2; exit 1; }\nexit 0\n')
    repo = ensure_hosted_repo(data, hook_argv=[str(prog)])
    work = init_repo(tmp_path / "work", {"a.yaml": "a: 1\n"})
    sha = git(work, "rev-parse", "HEAD")
    res = subprocess.run(["git", "push", str(data / "repo.git"), "main"], cwd=work, capture_output=True,
                         text=True, env=git_env())
    assert res.returncode == 0, res.stderr
    assert f"remote: hello from pre-receive: refs/heads/main {sha}" in res.stderr
    assert f"remote: hello from post-receive: refs/heads/main {sha}" in res.stderr
    assert repo.branch_head("main") == sha

    Path(str(prog) + ".deny").write_text("deny\n")
    commit(work, {"a.yaml": "a: 2\n"}, "refused")
    res = subprocess.run(["git", "push", str(data / "repo.git"), "main"], cwd=work, capture_output=True,
                         text=True, env=git_env())
    assert res.returncode != 0
    assert "remote: refused by policy" in res.stderr
    assert "post-receive" not in res.stderr
    assert repo.branch_head("main") == sha

    Path(str(prog) + ".deny").unlink()
    res = subprocess.run(["git", "push", str(data / "repo.git"), ":main"], cwd=work, capture_output=True,
                         text=True, env=git_env())
    assert res.returncode != 0 and repo.branch_head("main") == sha  # receive.denyDeletes
    assert "deletion prohibited" in res.stderr


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="hook_argv is empty"):
        ensure_hosted_repo(tmp_path / "d", hook_argv=[])
    with pytest.raises(SourceError, match="not a valid branch name"):
        ensure_hosted_repo(tmp_path / "d", branch="bad..name", hook_argv=["/bin/true"])
