"""Create (or repair) the hosted repository ``DATA/repo.git`` that ``git push`` deploys from.

``gitkube up`` calls :func:`ensure_hosted_repo` at every start. It makes a bare repository
whose HEAD is the tracked branch, configures it for pushes over file, ssh and smart HTTP
(``http.receivepack``), pins ``core.hooksPath`` to its own ``hooks/``, allows forced pushes (a rollback may rewrite history) but not branch
deletion, and (re)writes the ``pre-receive`` and ``post-receive`` hooks as two-line ``/bin/sh``
scripts that ``exec`` the given command with the hook name appended, so git's stdin (the
``<old> <new> <ref>`` lines) and the hook's output (shown to the pusher as ``remote: ...``)
pass straight through. Everything here is idempotent; the repository directory is 0700.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from gitkube.errors import SourceError
from gitkube.gitsource.gitcmd import run_git
from gitkube.gitsource.repo import GitRepo

__all__ = ["HOOKS", "ensure_hosted_repo", "hook_script"]

HOOKS = ("pre-receive", "post-receive")
_CONFIG = {
    "http.receivepack": "true",
    "receive.denyNonFastForwards": "false",
    "receive.denyDeletes": "true",
}


def hook_script(hook_argv: Sequence[str], hook: str) -> str:
    """The ``/bin/sh`` text of one hook: ``exec`` ``hook_argv + [hook]``, quoted with shlex."""
    command = shlex.join([*hook_argv, hook])
    return f"#!/bin/sh\n# Written by gitkube at every start; edits are overwritten.\nexec {command}\n"


def ensure_hosted_repo(data_dir: Path, *, branch: str = "main", hook_argv: Sequence[str]) -> GitRepo:
    """Make sure ``data_dir/repo.git`` exists, is configured and has current hooks; return it."""
    if not hook_argv:
        raise SourceError("ensure_hosted_repo: hook_argv is empty")
    data_dir = Path(data_dir).absolute()
    path = data_dir / "repo.git"
    if not run_git(["check-ref-format", f"refs/heads/{branch}"]).ok:
        raise SourceError(f"{path}: {branch!r} is not a valid branch name")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (path / "HEAD").is_file():
        res = run_git(["init", "--quiet", "--bare", f"--initial-branch={branch}"], git_dir=path)
        if not res.ok:
            raise SourceError(f"cannot create the hosted repository {path}: {res.error_text()}")
    os.chmod(path, 0o700)
    res = run_git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], git_dir=path)
    if not res.ok:
        raise SourceError(f"{path}: cannot point HEAD at {branch!r}: {res.error_text()}")
    # A core.hooksPath in the user's global config would silently disable our hooks.
    for key, value in {**_CONFIG, "core.hooksPath": str(path / "hooks")}.items():
        res = run_git(["config", key, value], git_dir=path)
        if not res.ok:
            raise SourceError(f"{path}: cannot set {key}={value}: {res.error_text()}")
    hooks = path / "hooks"
    hooks.mkdir(exist_ok=True)
    for hook in HOOKS:
        _write_executable(hooks / hook, hook_script(hook_argv, hook))
    return GitRepo(path)


def _write_executable(target: Path, text: str) -> None:
    """Replace ``target`` atomically with an executable file holding ``text``."""
    if target.is_file() and not target.is_symlink() and os.access(target, os.X_OK):
        try:
            if target.read_text() == text:
                return
        except (OSError, UnicodeDecodeError):
            pass
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
