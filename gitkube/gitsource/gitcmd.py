"""Run the git binary: the one place gitsource starts a blocking ``git`` process.

Used by :mod:`gitkube.gitsource.repo` (plumbing reads) and :mod:`gitkube.gitsource.hosted`
(init and config). The environment is inherited unchanged on purpose: a pre-receive hook reads
pushed, still-quarantined objects through ``GIT_OBJECT_DIRECTORY`` /
``GIT_ALTERNATE_OBJECT_DIRECTORIES`` / ``GIT_QUARANTINE_PATH``, which git sets for the hook.
Only ``--git-dir`` is passed explicitly so that a ``GIT_DIR`` left in the environment never
points a command at another repository.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitkube.errors import SourceError

__all__ = ["GitResult", "last_lines", "run_git"]


@dataclass(frozen=True)
class GitResult:
    """What one git process returned."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_text(self) -> str:
        """git's last stderr lines, for an error message."""
        return last_lines(self.stderr) or f"git exited with status {self.returncode}"


def last_lines(stderr: bytes, count: int = 3) -> str:
    """The last ``count`` non-empty lines of ``stderr`` joined with ``"; "``."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return "; ".join(lines[-count:])


def run_git(
    args: Sequence[str],
    *,
    git_dir: Path | None = None,
    input: bytes | None = None,
    cwd: Path | None = None,
) -> GitResult:
    """Run ``git [--git-dir GIT_DIR] ARGS`` and collect its output; never raises on a non-zero exit.

    SourceError only when the git binary itself cannot be started.
    """
    argv = ["git"]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    argv.extend(args)
    try:
        proc = subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            cwd=cwd,
            check=False,
        )
    except OSError as exc:
        raise SourceError(f"cannot run git: {exc}") from exc
    return GitResult(proc.returncode, proc.stdout, proc.stderr)
