"""Notice changes made outside git to the objects gitkube owns.

One watch per kind the desired state uses, filtered to objects labelled as managed by gitkube.
Each change event is compared with the desired object through the plan's own normalised
comparison (``gitkube.plan.object_diff``), so a status update or a default the server filled in
is not drift, while ``kubectl scale`` or ``kubectl edit`` of a field git sets is. Drifted keys
are handed to ``on_drift`` after a short debounce; the daemon reports them (an Event on the
object, status OutOfSync) and, unless ``--no-self-heal``, applies git's version again.
A broken or expired watch is re-listed, which re-checks every object of that kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.plan import OWNER_LABEL, OWNER_VALUE, Desired, FieldChange, object_diff
from gitkube.sync.resources import info_for

__all__ = ["DriftWatcher", "drift_of"]

log = logging.getLogger(__name__)
DEBOUNCE = 0.2

Obj = dict[str, Any]
OnDrift = Callable[[ObjectKey, list[FieldChange] | None, Obj | None], Awaitable[None]]


def drift_of(desired: Desired, live: Obj | None) -> list[FieldChange] | None:
    """None when the object is gone; else the field changes (empty when in sync)."""
    if live is None:
        return None
    return object_diff(desired.obj, live)


class DriftWatcher:
    def __init__(self, client: Client, desired: Callable[[], Mapping[ObjectKey, Desired]], on_drift: OnDrift,
                 paused: Callable[[], bool]) -> None:
        self.client = client
        self._desired = desired
        self._on_drift = on_drift
        self._paused = paused
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._pending: dict[ObjectKey, Obj | None] = {}
        self._flush: asyncio.Task[None] | None = None
        # key -> True when the last change event seen for it was compared and found in sync with
        # the desired object of that moment; any newer event clears it until it is compared.
        self._verdicts: dict[ObjectKey, bool] = {}
        self._seen_rv: dict[ObjectKey, str] = {}

    def in_sync(self, key: ObjectKey) -> bool:
        """The watch has compared the live object with the current desired one and found no drift."""
        return self._verdicts.get(key, False)

    def mark_in_sync(self, key: ObjectKey, live: Obj | None) -> None:
        """A full comparison (the planner's) found ``live`` in sync: remember it, unless the watch
        has seen a newer version of the object since."""
        if live is None or key in self._pending:
            return
        rv = str((live.get("metadata") or {}).get("resourceVersion") or "")
        if rv and self._seen_rv.get(key, rv) == rv:
            self._verdicts[key] = True

    def forget(self, keys: set[ObjectKey] | None = None) -> None:
        """Drop verdicts (all, or of ``keys``) whose desired object is about to change."""
        if keys is None:
            self._verdicts.clear()
        else:
            for key in keys:
                self._verdicts.pop(key, None)

    def refresh(self) -> None:
        """Start watches for kinds newly in the desired state; stop those no longer in it."""
        kinds = {(k.group, k.kind) for k in self._desired()}
        for gk in kinds - set(self._tasks):
            self._tasks[gk] = asyncio.create_task(self._watch(*gk), name=f"drift-{gk[1]}")
        for gk in set(self._tasks) - kinds:
            self._tasks.pop(gk).cancel()

    async def stop(self) -> None:
        tasks = list(self._tasks.values()) + ([self._flush] if self._flush else [])
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _note(self, key: ObjectKey, live: Obj | None) -> None:
        if key not in self._desired():
            return
        self._verdicts.pop(key, None)
        self._seen_rv[key] = str(((live or {}).get("metadata") or {}).get("resourceVersion") or "")
        self._pending[key] = live
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._drain(), name="drift-check")

    async def _drain(self) -> None:
        await asyncio.sleep(DEBOUNCE)
        while self._paused():
            await asyncio.sleep(DEBOUNCE)
        pending, self._pending = self._pending, {}
        desired = self._desired()
        for key, live in pending.items():
            want = desired.get(key)
            if want is None:
                continue
            changes = drift_of(want, live)
            if key not in self._pending:  # no newer event came while comparing
                self._verdicts[key] = changes == []
            if changes is None or changes:
                try:
                    await self._on_drift(key, changes, live)
                except errors.GitkubeError as exc:
                    log.warning("drift of %s: %s", key, exc)

    async def _watch(self, group: str, kind: str) -> None:
        info = info_for(ObjectKey(group, kind, "", "x"))
        selector = f"{OWNER_LABEL}={OWNER_VALUE}"
        backoff = 0.5
        while True:
            try:
                body = await self.client.list(info, label_selector=selector)
                rv = str((body.get("metadata") or {}).get("resourceVersion", ""))
                seen = set()
                for item in body.get("items") or []:
                    item.setdefault("apiVersion", info.api_version)
                    item.setdefault("kind", info.kind)
                    key = ObjectKey.of(item)
                    seen.add(key)
                    self._note(key, item)
                for key in self._desired():
                    if (key.group, key.kind) == (group, kind) and key not in seen:
                        self._note(key, None)
                async for event in self.client.watch(info, resource_version=rv, label_selector=selector):
                    if event.type == "BOOKMARK":
                        continue
                    obj = event.object
                    obj.setdefault("apiVersion", info.api_version)
                    obj.setdefault("kind", info.kind)
                    self._note(ObjectKey.of(obj), None if event.type == "DELETED" else obj)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                continue
            except Exception as exc:  # a dropped stream or an unreachable server: re-list after a pause
                log.debug("drift watch of %s ended: %s", kind, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
