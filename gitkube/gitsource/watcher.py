"""Watch one branch of a local repository and report when its head commit changes.

The engine runs a :class:`RefWatcher` for ``--repo PATH`` so that a new commit starts a sync
within a second, without polling git. watchdog (inotify) watches the places a branch head can
change: ``refs/`` (recursively: loose refs such as ``refs/heads/team/app``), ``packed-refs`` and
``HEAD`` in the git dir and, for a linked worktree, in the common dir. File events only wake the
watcher; after a quiet period (``debounce``, 50 ms) it asks git for the branch's sha and calls
``on_change`` only when that differs from the last sha it saw. Because the check runs after the
last event of a burst, the final state is never missed; a slow periodic re-check
(``recheck_interval``) covers lost inotify events. Changes to work-tree files never wake it.

``on_change`` runs on the watcher's own thread; the caller makes it thread-safe (e.g. with
``loop.call_soon_threadsafe``). An exception raised by ``on_change`` is logged, not fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from gitkube.errors import SourceError
from gitkube.gitsource.repo import GitRepo

__all__ = ["RefWatcher"]

log = logging.getLogger(__name__)

# Only events that can mean "a ref was written"; opening or reading a file (which our own
# `git rev-parse` does) must not wake the watcher, or it would wake itself forever.
_WRITE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileDeletedEvent, FileClosedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]
_MAX_DELAY = 0.5  # a continuous stream of events still gets a check at least this often


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._wake.set()


class RefWatcher:
    """Calls ``on_change()`` whenever ``refs/heads/<branch>`` of ``repo`` points at a new commit."""

    def __init__(
        self,
        repo: GitRepo,
        branch: str,
        on_change: Callable[[], None],
        *,
        debounce: float = 0.05,
        recheck_interval: float = 10.0,
    ) -> None:
        self.repo = repo
        self.branch = branch
        self._on_change = on_change
        self._debounce = debounce
        self._recheck = recheck_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._head: str | None = None

    @property
    def head(self) -> str | None:
        """The branch's sha as last seen by the watcher (None: no such branch)."""
        return self._head

    def watched_dirs(self) -> list[tuple[Path, bool]]:
        """``(directory, recursive)`` pairs the watcher observes."""
        dirs: list[tuple[Path, bool]] = [(self.repo.git_dir, False)]
        common = self.repo.common_dir
        if common != self.repo.git_dir:
            dirs.append((common, False))
        dirs.append((common / "refs", True))
        return [(d, rec) for d, rec in dirs if d.is_dir()]

    def start(self) -> None:
        """Record the current head and start watching. Raises SourceError if already started."""
        if self._thread is not None:
            raise SourceError(f"{self.repo.path}: watcher for branch {self.branch!r} already started")
        self._head = self.repo.branch_head(self.branch)
        self._stopping.clear()
        self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._run, name=f"refwatch-{self.branch}", daemon=True)
        self._thread.start()
        log.debug("watching %s branch %s at %s", self.repo.path, self.branch, self._head)

    def _start_observer(self) -> BaseObserver:
        handler = _Wake(self._wake)
        try:
            observer: BaseObserver = Observer()
            for path, recursive in self.watched_dirs():
                observer.schedule(handler, str(path), recursive=recursive, event_filter=_WRITE_EVENTS)
            observer.start()
            return observer
        except OSError as exc:  # e.g. the inotify watch limit is reached
            log.warning("inotify unavailable for %s (%s); polling its refs every 0.5 s", self.repo.path, exc)
        observer = PollingObserver(timeout=0.5)
        for path, recursive in self.watched_dirs():
            observer.schedule(handler, str(path), recursive=recursive)
        observer.start()
        return observer

    def stop(self) -> None:
        """Stop watching; no ``on_change`` call starts after this returns. Idempotent."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            woken = self._wake.wait(self._recheck)
            if self._stopping.is_set():
                return
            if woken:
                self._quiet()
                if self._stopping.is_set():
                    return
            self._check()

    def _quiet(self) -> None:
        """Wait until no event arrived for ``debounce`` seconds (at most ``_MAX_DELAY`` in all)."""
        first = time.monotonic()
        while True:
            self._wake.clear()
            if self._stopping.wait(self._debounce):
                return
            if not self._wake.is_set() or time.monotonic() - first >= _MAX_DELAY:
                self._wake.clear()
                return

    def _check(self) -> None:
        try:
            head = self.repo.branch_head(self.branch)
        except SourceError as exc:
            log.warning("cannot read branch %s: %s", self.branch, exc)
            return
        if head == self._head:
            return
        log.info("branch %s of %s moved: %s -> %s", self.branch, self.repo.path, self._head, head)
        self._head = head
        try:
            self._on_change()
        except Exception:
            log.exception("on_change for branch %s of %s failed", self.branch, self.repo.path)
