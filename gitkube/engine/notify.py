"""What the GitOps engine tells the world about its syncs: Kubernetes Events, metrics and webhooks.

``SyncReporter`` is called by :class:`gitkube.engine.daemon.Engine` when a sync starts and ends,
when ``gitkube rollback`` is asked for and when drift is seen. For each it

- records a Kubernetes Event on the engine's state object, the ConfigMap
  ``gitkube-system/gitkube-state`` (gitkube's counterpart of an Argo CD Application, which is where
  Argo CD puts its sync events): Normal ``SyncStarted``, Normal ``Synced``, Warning ``SyncFailed``,
  Warning ``RolledBack``, Normal ``RollbackRequested``; ``kubectl get events -n gitkube-system``
  or ``kubectl describe configmap gitkube-state -n gitkube-system`` shows them. (Flux's
  per-object events are not repeated: one sync of 500 objects would write 500 Events. Drift has
  its own ``DriftDetected`` Event on the drifted object, written by the engine.)
- updates the metrics (``gitkube_sync_total``, ``gitkube_sync_duration_seconds``,
  ``gitkube_rollbacks_total``, ``gitkube_drift_detected_total``) when it has them;
- queues a JSON document for the ``--notify-url`` receivers when there are any::

    {"event": "synced", "app": ".../repo.git", "branch": "main", "path": "", "commit": "<sha>",
     "previous": "<sha applied before>", "rolledBackTo": "", "release": 3, "trigger": "push",
     "author": "...", "subject": "...", "message": "Synced 1a2b3c4d5e6f", "reason": "",
     "time": "2026-...Z", "durationSeconds": 4.2,
     "objects": {"counts": {"create": 1, "update": 2, "delete": 0, "unchanged": 5},
                 "changes": [{"object": "apps/Deployment/demo/web", "action": "update"}, ...]}}

  ``event`` is synced, failed, rolledback (a failed sync rolled back to the last healthy commit) or
  drift (``{"event": "drift", "object": ..., "kind": ..., "fields": [paths], "selfHeal": ...}``).
  Documents name objects and field paths, never values, so no Secret data can leave in them.

Nothing here blocks a sync: Events are written in the background, webhooks go through a queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Protocol

import aiohttp

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client, EventRecorder
from gitkube.client.events import SpamFilter
from gitkube.sync.releases import NAMESPACE, STATE_NAME, Release

__all__ = ["EngineMetrics", "Notifier", "SyncReporter"]

log = logging.getLogger(__name__)

MAX_CHANGES = 100      # per-object changes a document lists (the counts are always complete)
MAX_TEXT = 2000        # characters of a reason or message in a document
MAX_EVENT_MESSAGE = 1024  # Kubernetes truncates Event messages at 1 KiB


class EngineMetrics(Protocol):
    """What the reporter needs of ``gitkube.observability.metrics.Metrics``."""

    def observe_sync(self, outcome: str, seconds: float) -> None: ...
    def count_rollback(self, trigger: str) -> None: ...
    def count_drift(self, kind: str) -> None: ...


class Notifier(Protocol):
    """What the reporter needs of ``gitkube.observability.webhook.WebhookSender``."""

    def send(self, event: str, document: dict[str, Any]) -> None: ...


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SyncReporter:
    def __init__(self, client: Client, *, branch: str = "", path: str = "", app: str = "",
                 metrics: EngineMetrics | None = None, notifier: Notifier | None = None,
                 namespace: str = NAMESPACE) -> None:
        self.client = client
        self.branch = branch
        self.path = path
        self.app = app
        self.metrics = metrics
        self.notifier = notifier
        self.namespace = namespace
        # The state object collects every sync's events: a generous bucket (client-go's default of
        # 25 with one token per 5 minutes would silence a busy repository after a dozen syncs).
        self.events = EventRecorder(client, "gitkube", spam_filter=SpamFilter(burst=100, refill_seconds=10.0))
        self._state_ref: dict[str, Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- calls from the engine ---------------------------------------------------------------

    def sync_started(self, release: Release) -> None:
        self._event("Normal", "SyncStarted",
                    f"syncing {release.commit[:12]} {release.message!r} (release {release.number}, {release.trigger})")

    def sync_finished(self, release: Release, previous: str) -> None:
        """``release`` has its outcome; ``previous`` is the commit applied before the sync."""
        outcome, short = release.outcome, release.commit[:12]
        if self.metrics is not None:
            self.metrics.observe_sync(outcome, release.duration or 0.0)
            if outcome == "RolledBack":
                self.metrics.count_rollback("automatic")
        counts = ", ".join(f"{n} {action}d" if action != "unchanged" else f"{n} unchanged"
                           for action, n in sorted(release.counts.items()) if n)
        if outcome == "Synced":
            message = f"Synced {short}" + (f": {counts}" if counts else "")
            self._event("Normal", "Synced", message)
        elif outcome == "RolledBack":
            message = f"RolledBack {short} to {release.rolled_back_to[:12]}: {release.reason}"
            self._event("Warning", "RolledBack", message)
        else:
            message = f"Failed {short}: {release.reason}"
            self._event("Warning", "SyncFailed", message)
        self._notify(outcome.lower(), {
            "commit": release.commit, "previous": previous, "rolledBackTo": release.rolled_back_to,
            "release": release.number, "trigger": release.trigger, "author": release.author,
            "subject": release.message, "message": _clip(message, MAX_TEXT), "reason": _clip(release.reason, MAX_TEXT),
            "time": release.finished or _now(), "durationSeconds": release.duration,
            "objects": {"counts": dict(release.counts), "changes": release.changes[:MAX_CHANGES]},
        })

    def rollback_requested(self, commit: str, subject: str) -> None:
        if self.metrics is not None:
            self.metrics.count_rollback("manual")
        self._event("Normal", "RollbackRequested", f"rolling back to {commit[:12]} {subject!r}, held until a newer commit")

    def drift(self, key: ObjectKey, fields: list[str] | None, self_heal: bool, commit: str) -> None:
        """``fields`` are the changed field paths (None: the object was deleted)."""
        if self.metrics is not None:
            self.metrics.count_drift(key.kind)
        what = "deleted" if fields is None else ", ".join(fields[:5])
        self._notify("drift", {
            "object": str(key), "kind": key.kind, "namespace": key.namespace, "name": key.name,
            "fields": fields, "deleted": fields is None, "selfHeal": self_heal, "commit": commit,
            "message": _clip(f"{key} changed outside git ({what})", MAX_TEXT), "time": _now(),
        })

    async def flush(self) -> None:
        """Wait for the Events in flight (shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.events.flush()

    # -- helpers ----------------------------------------------------------------------------

    def _notify(self, event: str, fields: dict[str, Any]) -> None:
        if self.notifier is None:
            return
        document = {"event": event, "app": self.app, "branch": self.branch, "path": self.path, **fields}
        self.notifier.send(event, document)

    def _event(self, event_type: str, reason: str, message: str) -> None:
        task = asyncio.get_running_loop().create_task(self._record(event_type, reason, _clip(message, MAX_EVENT_MESSAGE)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, event_type: str, reason: str, message: str) -> None:
        self.events.record(await self._state_object(), event_type, reason, message)

    async def _state_object(self) -> dict[str, Any]:
        """The state ConfigMap's reference (with its uid once it exists, so ``kubectl describe``
        finds the events)."""
        if self._state_ref is not None:
            return self._state_ref
        ref: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": STATE_NAME, "namespace": self.namespace}}
        try:
            live = await self.client.get("configmaps", STATE_NAME, self.namespace)
        except (errors.GitkubeError, OSError, aiohttp.ClientError) as exc:
            if not isinstance(exc, errors.NotFound):
                log.info("cannot read %s/%s for its events: %s", self.namespace, STATE_NAME, exc)
            return ref
        m = live.get("metadata") or {}
        ref["metadata"]["uid"] = m.get("uid", "")
        self._state_ref = ref
        return ref
