"""Keep a bare mirror of a remote repository in the data dir and fetch it on demand.

The engine uses a :class:`Mirror` for a remote ``--repo URL``: it calls :meth:`Mirror.fetch`
every ``--poll-interval`` and when ``POST /api/webhook`` arrives, then reads commits through
:attr:`Mirror.repo` exactly as it reads a local repository. The mirror lives in
``DATA/mirrors/<sha256(url)[:16]>.git``; the first fetch is a ``git clone --mirror`` into a
temporary directory renamed into place (a failed or killed clone leaves nothing half-made),
later ones ``git fetch --prune --force origin '+refs/heads/*:refs/heads/*'``.

git runs as an asyncio subprocess with a timeout, never prompts for credentials, and every
message it produces is redacted: a URL's ``user:password@`` part never reaches a log or an
error (:func:`redact`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from gitkube.errors import SourceError
from gitkube.gitsource.gitcmd import last_lines
from gitkube.gitsource.repo import GitRepo

__all__ = ["Mirror", "redact"]

log = logging.getLogger(__name__)

_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
_TERM_GRACE = 5.0


def redact(text: str, url: str = "") -> str:
    """``text`` with every URL's ``user:pass@`` replaced by ``***@`` (and ``url``'s password or
    token removed even where git printed it on its own)."""
    out = _USERINFO.sub("***@", text)
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    for secret in (parts.password, parts.username):
        if secret and len(secret) >= 4:
            out = out.replace(secret, "***")
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # a missing credential fails instead of hanging
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH", "GIT_COMMON_DIR"):
        env.pop(var, None)  # the mirror is its own repository, whatever our caller's git context
    return env


class Mirror:
    """A bare mirror of ``url`` under ``data_dir/mirrors``."""

    def __init__(self, url: str, data_dir: Path, *, timeout: float = 300.0) -> None:
        self.url = url
        self.timeout = timeout
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = Path(data_dir).absolute() / "mirrors" / f"{key}.git"
        self._lock = asyncio.Lock()
        self._repo: GitRepo | None = None

    def __repr__(self) -> str:
        return f"Mirror({redact(self.url, self.url)!r}, path={str(self.path)!r})"

    @property
    def repo(self) -> GitRepo:
        """The mirror as a :class:`GitRepo`; SourceError before the first successful fetch."""
        if self._repo is None:
            if not (self.path / "HEAD").is_file():
                raise SourceError(f"mirror of {redact(self.url, self.url)} not fetched yet ({self.path})")
            self._repo = GitRepo(self.path)
        return self._repo

    async def fetch(self) -> None:
        """Clone the mirror the first time, fetch every branch (pruning deleted ones) after that.

        Concurrent calls on one Mirror run one after the other. SourceError (with git's last
        stderr lines, redacted) on failure or timeout.
        """
        async with self._lock:
            if (self.path / "HEAD").is_file():
                await self._git("fetch", "--prune", "--force", "--no-write-fetch-head", "origin",
                                "+refs/heads/*:refs/heads/*", cwd=self.path, what="fetch")
            else:
                await self._clone()
            self._repo = self._repo or GitRepo(self.path)

    async def _clone(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.path.parent))
        try:
            await self._git("clone", "--mirror", "--quiet", "--", self.url, str(tmp / "m.git"),
                            cwd=self.path.parent, what="clone")
            if self.path.exists():  # a leftover without HEAD: not a usable mirror
                shutil.rmtree(self.path)
            os.replace(tmp / "m.git", self.path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("cloned mirror of %s into %s", redact(self.url, self.url), self.path)

    async def _git(self, *args: str, cwd: Path, what: str) -> None:
        shown = redact(self.url, self.url)
        try:
            proc = await asyncio.create_subprocess_exec(
                "git", *args, cwd=cwd, env=_env(), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SourceError(f"cannot run git to {what} {shown}: {exc}") from exc
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            await _terminate(proc)
            raise SourceError(f"git {what} of {shown} timed out after {self.timeout:g} s") from None
        except asyncio.CancelledError:
            await _terminate(proc)
            raise
        if proc.returncode != 0:
            detail = redact(last_lines(stderr), self.url) or f"git exited with status {proc.returncode}"
            raise SourceError(f"git {what} of {shown} failed: {detail}")


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM first (git removes its lock files), SIGKILL if it does not exit soon."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), _TERM_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
