"""``gitkube rollback --revert``: write a commit that puts an earlier point back in git.

The new commit's tree is the branch head's tree with ``--path`` replaced by the target commit's
``--path`` (the whole tree when no path is set), made with git plumbing in a private index so it
works the same on the hosted bare repository and on a working repository. Files come back byte
for byte, so comments, key order and formatting survive without any YAML rewriting. In a working
repository whose checked-out branch moves, the index and work tree follow with
``git read-tree -m -u`` (which refuses, leaving them alone, if local edits would be overwritten).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from gitkube import errors
from gitkube.gitsource.repo import GitRepo

__all__ = ["write_revert"]

_IDENTITY = {"GIT_AUTHOR_NAME": "gitkube", "GIT_AUTHOR_EMAIL": "gitkube@localhost",
             "GIT_COMMITTER_NAME": "gitkube", "GIT_COMMITTER_EMAIL": "gitkube@localhost"}


def _git(repo: GitRepo, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo.path, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise errors.SourceError(f"git {' '.join(args[:2])} in {repo.path}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def write_revert(repo: GitRepo, target: str, *, branch: str, path: str = "", reason: str = "") -> str:
    """Commit on ``branch`` the state of ``target`` below ``path``; returns the new commit's sha."""
    head = repo.branch_head(branch)
    if head is None:
        raise errors.SourceError(f"{repo.path}: branch {branch} has no commits")
    target_info = repo.resolve(target)
    sub = path.strip("/")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if sub:
            _git(repo, "read-tree", head, env=env)
            _git(repo, "rm", "-r", "--cached", "-q", "--ignore-unmatch", "--", sub, env=env)
            try:
                subtree = _git(repo, "rev-parse", f"{target_info.sha}:{sub}")
            except errors.SourceError:
                subtree = ""
            if subtree:
                _git(repo, "read-tree", f"--prefix={sub}/", subtree, env=env)
            tree = _git(repo, "write-tree", env=env)
        else:
            tree = _git(repo, "rev-parse", f"{target_info.sha}^{{tree}}")
    message = f"Revert to {target_info.sha[:12]} ({target_info.summary})\n\n"
    message += (reason + "\n\n" if reason else "") + f"Written by gitkube rollback --revert {target_info.sha}.\n"
    if tree == _git(repo, "rev-parse", f"{head}^{{tree}}"):
        raise errors.SourceError(f"{branch} already has the content of {target_info.sha[:12]}: nothing to revert")
    commit = _git(repo, "commit-tree", tree, "-p", head, "-m", message, env=_IDENTITY)
    _git(repo, "update-ref", f"refs/heads/{branch}", commit, head)
    if not repo.bare:
        current = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo.path, capture_output=True,
                                 text=True, check=False).stdout.strip()
        if current == f"refs/heads/{branch}":
            subprocess.run(["git", "read-tree", "-m", "-u", head, commit], cwd=repo.path, capture_output=True,
                           check=False)
    return commit
