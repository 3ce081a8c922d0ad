"""The GitOps loop of ``gitkube up``: new commit → plan → pre-flight → sync → release record,
automatic rollback to the last healthy point, holds after ``gitkube rollback``, drift repair.

One task runs :meth:`Engine.run`; everything that wants a sync (a commit, a push, a poll, the
webhook, a restart) calls :meth:`Engine.trigger`, and the loop coalesces triggers so one sync
runs at a time and always for the newest state. Decisions:

- the branch head is synced unless it already failed (it is not retried until a newer commit
  arrives) or a rollback holds an older point (held until the head moves);
- a sync whose health fails (crash loop, ProgressDeadlineExceeded, not healthy within
  ``--rollout-timeout``) re-applies the last healthy commit and is recorded as RolledBack;
- a record still Progressing at start-up is a sync the daemon was killed in: it is redone under
  the same release number (server-side apply is idempotent, so nothing is duplicated).

Built by ``gitkube.app``; served over HTTP by ``gitkube.engine.http``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client, EventRecorder
from gitkube.gitsource.repo import CommitInfo
from gitkube.manifests import ParseCache
from gitkube.plan import Desired, FieldChange, Plan, render_brief, stamp
from gitkube.sync import applier
from gitkube.sync.progress import Event, ProgressLog
from gitkube.sync.releases import EngineState, Release, ReleaseLog
from gitkube.sync.syncer import run_plan

from .drift import DriftWatcher
from .incremental import Baseline, baseline_of, prepare_incremental
from .notify import SyncReporter
from .pipeline import Decrypt, Prepared, prepare
from .source import Source

__all__ = ["Engine", "EngineSettings"]

log = logging.getLogger("gitkube.engine")
KEEP_LOGS = 20
MAX_RECORDED = 500


@dataclass
class EngineSettings:
    branch: str = "main"
    path: str = ""
    rollout_timeout: float = 120.0
    self_heal: bool = True
    allow_empty: bool = False
    kustomize: str | None = None
    wait: bool = True  # False: apply without waiting for health (``gitkube apply --no-wait``)
    decrypt: Decrypt | None = None  # decrypts *.sops.yaml (the control plane's age identity)


class Engine:
    def __init__(self, source: Source, client: Client, settings: EngineSettings, *,
                 cache: ParseCache | None = None, echo: Callable[[Event], None] | None = None,
                 reporter: SyncReporter | None = None) -> None:
        self.source = source
        self.client = client
        self.settings = settings
        self.cache = cache
        self.releases = ReleaseLog(client)
        self.events = EventRecorder(client, "gitkube")
        # sync/rollback Events on gitkube-state, metrics and --notify-url documents (.notify)
        self.report = reporter or SyncReporter(client, branch=settings.branch, path=settings.path,
                                               app=source.description)
        self.state = EngineState()
        self.sync_state = "Unknown"
        self.message = ""
        self.desired: dict[ObjectKey, Desired] = {}
        self.logs: dict[str, ProgressLog] = {}
        self.ready = asyncio.Event()
        self._echo = echo
        self._wake = asyncio.Event()
        self._reasons: list[str] = []
        self._busy = False
        self._lock = asyncio.Lock()
        self._drift = DriftWatcher(client, lambda: self.desired, self._on_drift, lambda: self._busy)
        self._log_waiters = asyncio.Condition()
        self._baseline: Baseline | None = None
        self._interrupted: Release | None = None  # a sync the API failed under, to redo
        self._backoff = 1.0
        self._affected: set[ObjectKey] | None = None

    # -- triggers -------------------------------------------------------------------------------

    def trigger(self, reason: str) -> None:
        self._reasons.append(reason)
        self._wake.set()

    async def run(self) -> None:
        self.state = await self.releases.state()
        await self._resume()
        await self.source.start(self.trigger)
        self.ready.set()
        self.trigger("start")
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                reasons, self._reasons = self._reasons, []
                try:
                    await self._step(reasons[-1] if reasons else "start")
                    self._backoff = 1.0
                except (errors.GitkubeError, OSError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
                    # The API could not be read or written (a restart, a timeout, a refused
                    # connection): not the commit's fault. Retry, with backoff, under the same
                    # release record (see _sync), which stays Progressing meanwhile. A bug of ours
                    # (ValueError & co.) is logged with its traceback and retried too, so it cannot
                    # stop GitOps for good.
                    log.error("sync step failed, retrying in %.0fs: %s", self._backoff, exc,
                              exc_info=not isinstance(exc, errors.GitkubeError | OSError | aiohttp.ClientError))
                    self.message = f"retrying in {self._backoff:.0f}s: {exc}"
                    await asyncio.sleep(self._backoff)
                    self._backoff = min(self._backoff * 2, 60.0)
                    self.trigger("retry")
        finally:
            await self._drift.stop()
            await self.source.stop()
            await self.events.flush()
            await self.report.flush()

    async def _resume(self) -> None:
        """Redo a sync the daemon was killed in, under its own release number."""
        latest = await self.releases.entries(limit=1)
        if latest and latest[0].outcome == "Progressing":
            release = latest[0]
            log.warning("resuming the sync of %s interrupted by a restart", release.commit[:12])
            try:
                info = self.source.repo.resolve(release.commit)
            except errors.SourceError as exc:
                await self.releases.finish(release, "Failed", f"interrupted, and the commit is unreadable: {exc}")
                return
            try:
                await self.sync(info, trigger="resume", release=release)
            except (errors.GitkubeError, OSError, aiohttp.ClientError) as exc:
                log.error("the resumed sync failed, retrying: %s", exc)  # _sync kept it to redo
                self.trigger("retry")

    def _target(self) -> tuple[str | None, str]:
        head = self.source.head()
        if head is None:
            return None, "the branch has no commits yet"
        if self.state.held:
            if self.state.held_head == head:
                return self.state.held, "held by rollback"
            self.state.held = self.state.held_head = ""
        if head in self.state.failed:
            return None, f"{head[:12]} failed and is not retried until a newer commit: {self.state.failed[head]}"
        return head, ""

    async def _step(self, reason: str) -> None:
        target, why = self._target()
        if target is None:
            if why and self.sync_state == "Unknown":
                self.message = why
            if self.state.commit and not self.desired:
                await self._load_desired(self.state.commit)
            return
        if target == self.state.commit:
            if not self.desired:
                # after a restart: load what is applied; the drift watches then re-check it all
                await self._load_desired(target)
            if self.sync_state == "Unknown":
                self.sync_state = "Synced"
            return
        try:
            info = self.source.repo.resolve(target)
        except errors.SourceError as exc:
            # The head commit cannot be read (corrupt or truncated objects): not retried until a
            # newer commit arrives; what is applied keeps running and nothing is pruned.
            reason = f"the commit cannot be read: {exc}"
            self.state.failed[target] = reason
            await self.releases.save_state(self.state)
            self.sync_state, self.message = "Degraded", f"{target[:12]}: {reason}"
            log.error("%s: %s", target[:12], reason)
            return
        if self._interrupted is not None and self._interrupted.commit == target:
            release, self._interrupted = self._interrupted, None
            await self.sync(info, trigger="retry", release=release)
            return
        await self.sync(info, trigger=reason)

    async def _load_desired(self, commit: str) -> None:
        try:
            prepared = await self._plan(commit, allow_empty=True, dry_run=False)
        except errors.GitkubeError as exc:
            log.warning("cannot load %s: %s", commit[:12], exc)
            return
        self._adopt(prepared)

    # -- planning -------------------------------------------------------------------------------

    async def _plan(self, sha: str, *, allow_empty: bool, dry_run: bool = True) -> Prepared:
        """The plan of ``sha``: incrementally from the last planned commit when only a few plain
        files changed (:mod:`.incremental`), else through the full pipeline."""
        state = await self.releases.state()
        if self._baseline is not None and self._baseline.path == self.settings.path and dry_run:
            fast = await prepare_incremental(self.source.repo, sha, self.client, self._baseline, state,
                                             in_sync=self._drift.in_sync, cache=self.cache, allow_empty=allow_empty,
                                             decrypt=self.settings.decrypt)
            if fast is not None:
                prepared, self._affected = fast
                return prepared
        prepared = await prepare(self.source.repo, sha, self.client, path=self.settings.path, cache=self.cache,
                                 kustomize=self.settings.kustomize, allow_empty=allow_empty, server_dry_run=dry_run,
                                 log=self.releases, decrypt=self.settings.decrypt)
        files = await asyncio.to_thread(self.source.repo.files, prepared.commit.sha, self.settings.path)
        self._baseline = baseline_of(self.settings.path, files, prepared.manifests)
        self._affected = None
        return prepared

    def _adopt(self, prepared: Prepared) -> None:
        """``prepared`` is applied: it becomes the desired state the drift watch compares with."""
        if self._affected is None:
            self._drift.forget()
        else:
            self._drift.forget(self._affected)
        self.desired = {k: Desired(stamp(d.obj, d.source), d.source) for k, d in prepared.desired.items()}
        for change in prepared.plan.changes:
            if change.action == "unchanged":
                self._drift.mark_in_sync(change.key, change.live)
        self._drift.refresh()

    # -- one sync -------------------------------------------------------------------------------

    def _new_log(self, commit: str) -> ProgressLog:
        plog = ProgressLog(commit, echo=self._echo)
        self.logs[commit] = plog
        while len(self.logs) > KEEP_LOGS:
            self.logs.pop(next(iter(self.logs)))
        asyncio.get_running_loop().create_task(self._notify_logs())
        return plog

    async def _notify_logs(self) -> None:
        async with self._log_waiters:
            self._log_waiters.notify_all()

    async def wait_log(self, commit: str, timeout: float) -> ProgressLog | None:
        """The progress of ``commit``'s sync, waiting up to ``timeout`` for it to start."""
        async def found() -> ProgressLog:
            async with self._log_waiters:
                while True:
                    for sha, plog in reversed(list(self.logs.items())):
                        if sha.startswith(commit):
                            return plog
                    await self._log_waiters.wait()
        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            return None

    async def sync(self, info: CommitInfo, *, trigger: str, release: Release | None = None,
                   hold: bool = False) -> Release:
        async with self._lock:
            self._busy = True
            try:
                return await self._sync(info, trigger, release, hold)
            finally:
                self._busy = False

    async def _save_inventory(self, keys: set[ObjectKey]) -> None:
        if not keys <= self.state.inventory:
            self.state.inventory |= keys
            await self.releases.save_state(self.state)

    async def _sync(self, info: CommitInfo, trigger: str, release: Release | None, hold: bool) -> Release:
        plog = self._new_log(info.sha)
        short = info.sha[:12]
        plog.emit("start", f"syncing {short} {info.summary!r} ({trigger})", commit=info.sha)
        release = release or Release(0, info.sha, info.author, info.summary, trigger)
        release = await self.releases.start(release)
        self.sync_state, self.message = "Progressing", f"syncing {short}"
        previous = self.state.commit
        self.report.sync_started(release)
        try:
            finished = await self._carry_out(info, trigger, release, hold, plog)
        except errors.Rejected as exc:
            finished = await self._refused(release, plog, exc.problems)
        except errors.SourceError as exc:
            finished = await self._refused(release, plog, [str(exc)])
        except (errors.GitkubeError, OSError, aiohttp.ClientError) as exc:
            self._interrupted = release
            plog.emit("retry", f"sync of {short} interrupted, will retry: {exc}", commit=info.sha)
            await plog.close()
            raise
        self.report.sync_finished(finished, previous)
        return finished

    async def _carry_out(self, info: CommitInfo, trigger: str, release: Release, hold: bool,
                         plog: ProgressLog) -> Release:
        short = info.sha[:12]
        prepared = await self._plan(info.sha, allow_empty=self.settings.allow_empty)
        if prepared.problems:
            return await self._refused(release, plog, prepared.problems)
        plan = prepared.plan
        release.changes = _changes(plan)
        release.counts = _summary(plan)
        await self.releases.update(release)
        plog.emit("plan", render_brief(plan), plan=_summary(plan))
        result = await run_plan(self.client, plan, plog, timeout=self.settings.rollout_timeout,
                                wait=self.settings.wait, check_all=trigger in ("resume", "retry"),
                                on_inventory=self._save_inventory)
        if result.ok:
            self.state.commit = self.state.healthy = info.sha
            self.state.inventory = set(prepared.desired)
            self.state.failed.pop(info.sha, None)
            if hold:
                self.state.held, self.state.held_head = info.sha, self.source.head() or ""
            await self.releases.save_state(self.state)
            self._adopt(prepared)
            self.sync_state, self.message = "Synced", f"synced {short}"
            await self.releases.finish(release, "Synced")
            plog.emit("outcome", f"Synced {short}", outcome="Synced", commit=info.sha)
            await plog.close()
            return release
        return await self._failed(release, plog, info, result.reason)

    async def _refused(self, release: Release, plog: ProgressLog, problems: list[str]) -> Release:
        reason = "rejected by pre-flight:\n" + "\n".join(problems)
        self.state.failed[release.commit] = reason
        await self.releases.save_state(self.state)
        self.sync_state, self.message = "Degraded", reason
        await self.releases.finish(release, "Failed", reason)
        plog.emit("outcome", reason, outcome="Failed", commit=release.commit, problems=problems)
        await plog.close()
        return release

    async def _failed(self, release: Release, plog: ProgressLog, info: CommitInfo, reason: str) -> Release:
        self.state.commit = info.sha
        self.state.failed[info.sha] = reason
        await self.releases.save_state(self.state)
        target = self.state.healthy
        if not target or target == info.sha:
            self.sync_state, self.message = "Degraded", reason
            await self.releases.finish(release, "Failed", reason)
            plog.emit("outcome", f"Failed {info.sha[:12]}: {reason}", outcome="Failed", commit=info.sha)
            await plog.close()
            return release
        plog.emit("rollback", f"health failed: {reason}; rolling back to {target[:12]}", target=target)
        try:
            old = await self._plan(target, allow_empty=True, dry_run=False)
            back = await run_plan(self.client, old.plan, plog, timeout=self.settings.rollout_timeout,
                                  on_inventory=self._save_inventory)
        except errors.GitkubeError as exc:
            back_ok, back_reason = False, str(exc)
        else:
            back_ok, back_reason = back.ok, back.reason
        if back_ok:
            self.state.commit = target
            self.state.inventory = set(old.desired)
            self._adopt(old)
        await self.releases.save_state(self.state)
        release.rolled_back_to = target
        note = reason if back_ok else f"{reason}; the rollback to {target[:12]} failed too: {back_reason}"
        self.sync_state, self.message = ("RolledBack" if back_ok else "Degraded"), note
        await self.releases.finish(release, "RolledBack" if back_ok else "Failed", note)
        plog.emit("outcome", f"RolledBack {info.sha[:12]} to {target[:12]}: {note}",
                  outcome="RolledBack" if back_ok else "Failed", commit=info.sha, rolled_back_to=target)
        await plog.close()
        return release

    # -- rollback and drift ---------------------------------------------------------------------

    async def rollback(self, rev: str | None) -> ProgressLog:
        """Apply an earlier point (default: the healthy commit before the current one) and hold it."""
        if rev:
            info = self.source.repo.resolve(rev)
        else:
            history = [r for r in await self.releases.entries() if r.outcome == "Synced"]
            earlier = [r for r in history if r.commit != self.state.commit]
            if not earlier:
                raise errors.SyncError("no earlier healthy release to roll back to")
            info = self.source.repo.resolve(earlier[0].commit)
        self.state.failed.pop(info.sha, None)
        self.report.rollback_requested(info.sha, info.summary)
        task = asyncio.create_task(self.sync(info, trigger="rollback", hold=True))
        plog = await self.wait_log(info.sha, 30)
        if plog is None:
            await task
            plog = self.logs[info.sha]
        return plog

    async def _on_drift(self, key: ObjectKey, changes: list[FieldChange] | None, live: dict[str, Any] | None) -> None:
        desired = self.desired.get(key)
        if desired is None:
            return
        what = "deleted" if changes is None else ", ".join(c.path for c in changes[:5])
        message = f"{key} changed outside git ({what})"
        self.sync_state, self.message = "OutOfSync", message
        log.warning("drift: %s", message)
        self.report.drift(key, None if changes is None else [c.path for c in changes], self.settings.self_heal,
                          self.state.commit)
        if live is not None:
            self.events.record(live, "Warning", "DriftDetected", f"changed outside git: {what}")
        if not self.settings.self_heal:
            return
        await applier.apply(self.client, key, desired.obj)
        if live is not None:
            self.events.record(live, "Normal", "DriftReverted", "git's version applied again")
        self.sync_state, self.message = "Synced", f"{key}: drift reverted"

    # -- read side ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"source": self.source.description, "branch": self.source.branch, "path": self.settings.path,
                "head": self.source.head() or "", "commit": self.state.commit, "healthy": self.state.healthy,
                "held": self.state.held, "syncState": self.sync_state, "message": self.message,
                "objects": len(self.desired)}

    async def stop(self) -> None:
        await self._drift.stop()
        await self.report.flush()
        with contextlib.suppress(Exception):
            await self.source.stop()


def _changes(plan: Plan) -> list[dict[str, str]]:
    """The per-object changes a release record keeps: at most MAX_RECORDED (a record is one
    ConfigMap, and Kubernetes caps those at 1 MiB); ``counts`` always has the totals."""
    out = [{"object": str(c.key), "action": c.action} for c in plan.changes if c.action != "unchanged"]
    out += [{"object": str(c.key), "action": "delete"} for c in plan.prune]
    return out[:MAX_RECORDED]


def _summary(plan: Plan) -> dict[str, int]:
    counts = {"create": 0, "update": 0, "delete": len(plan.prune), "unchanged": 0}
    for c in plan.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    return counts

