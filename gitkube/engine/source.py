"""Where the desired state comes from, and how the daemon hears about new commits.

- ``local``: a working repository (``--repo PATH``); a :class:`RefWatcher` (watchdog on its refs)
  fires when a commit lands on the tracked branch.
- ``hosted``: the daemon's own bare ``DATA/repo.git`` (pushed to over file, ssh or smart HTTP),
  watched the same way; its hooks call back into gitkube.
- ``remote``: a URL, mirrored into the data dir and fetched every ``--poll-interval`` or at once on
  ``POST /api/webhook``.

Called by ``gitkube.engine.daemon`` (built by ``gitkube.app``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from gitkube import errors
from gitkube.gitsource.hosted import ensure_hosted_repo
from gitkube.gitsource.mirror import Mirror, redact
from gitkube.gitsource.repo import GitRepo
from gitkube.gitsource.watcher import RefWatcher

__all__ = ["Source", "hook_argv", "open_source"]

log = logging.getLogger(__name__)


def hook_argv(data_dir: Path) -> list[str]:
    """What the hosted repository's hooks run: this interpreter, with this gitkube importable even
    when it runs from a source tree (hooks start in the repository directory, not ours)."""
    import gitkube

    root = str(Path(gitkube.__file__).resolve().parents[1])
    return ["env", f"PYTHONPATH={root}", sys.executable, "-m", "gitkube", "hook", "--data-dir", str(data_dir)]


class Source:
    def __init__(self, kind: str, repo: GitRepo | None, branch: str, *, mirror: Mirror | None = None,
                 poll_interval: float = 30.0, description: str = "") -> None:
        self.kind = kind
        self._repo = repo
        self.branch = branch
        self.mirror = mirror
        self.poll_interval = poll_interval
        self.description = description or (str(repo.path) if repo is not None else "")
        self._watcher: RefWatcher | None = None
        self._poller: asyncio.Task[None] | None = None
        self._trigger: Callable[[str], None] | None = None

    @property
    def repo(self) -> GitRepo:
        """The repository commits are read from (a remote's mirror exists after its first fetch)."""
        if self._repo is not None:
            return self._repo
        assert self.mirror is not None
        return self.mirror.repo

    def head(self) -> str | None:
        try:
            return self.repo.branch_head(self.branch)
        except errors.SourceError:
            return None

    async def start(self, trigger: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()
        self._trigger = trigger
        if self.mirror is not None:
            with contextlib.suppress(errors.SourceError):
                await self.mirror.fetch()
            self._poller = asyncio.create_task(self._poll(), name="git-poll")
            return

        def changed() -> None:
            loop.call_soon_threadsafe(trigger, "commit" if self.kind == "local" else "push")

        self._watcher = RefWatcher(self.repo, self.branch, changed)
        self._watcher.start()

    async def fetch_now(self) -> None:
        """The webhook: fetch a remote at once (a no-op for local and hosted sources)."""
        if self.mirror is not None:
            await self.mirror.fetch()
            if self._trigger is not None:
                self._trigger("webhook")

    async def _poll(self) -> None:
        assert self.mirror is not None
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.mirror.fetch()
            except errors.SourceError as exc:
                log.warning("fetch failed: %s", exc)
                continue
            if self._trigger is not None:
                self._trigger("poll")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None


def open_source(repo: str | None, branch: str, data_dir: Path, *, poll_interval: float = 30.0) -> Source:
    """``None`` → the hosted repository; a URL → a remote mirror; else a local repository path."""
    if not repo:
        hosted = ensure_hosted_repo(data_dir, branch=branch, hook_argv=hook_argv(data_dir))
        return Source("hosted", hosted, branch, description=str(hosted.path))
    if "://" in repo or repo.startswith("git@"):
        mirror = Mirror(repo, data_dir)
        return Source("remote", None, branch, mirror=mirror, poll_interval=poll_interval, description=redact(repo))
    path = Path(repo).expanduser().resolve()
    return Source("local", GitRepo(path), branch, description=str(path))
