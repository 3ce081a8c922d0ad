"""The release log: one record per sync (a rollback point), and the engine's small state.

Both live in the target cluster itself, as ConfigMaps in the ``gitkube-system`` namespace, so
they are as crash-safe as the store behind the API, readable with ``kubectl``, and work the same
against the built-in control plane and a foreign cluster:

- ``release-000042`` (label ``gitkube.io/release``): commit, author, message, trigger,
  started/finished, outcome (Progressing → Synced | Failed | RolledBack), reason, the per-object
  changes (kind/namespace/name and the action; never values; the first 500, with totals per
  action) and the duration. A record is
  written when a sync starts and completed in place when it ends; one still ``Progressing`` after
  a restart is a sync the daemon was killed in, and is redone under the same number.
- ``gitkube-state``: the commit last applied, the last healthy commit, a held commit (after
  ``gitkube rollback``), commits that failed and must not be retried, and the inventory (every
  object key applied and not yet pruned: the prune set's source), zlib-compressed.

Called by ``gitkube.sync.syncer`` and ``gitkube.engine``; read by ``gitkube history|status``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from gitkube import errors
from gitkube.api.meta import now
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client

__all__ = ["NAMESPACE", "EngineState", "Release", "ReleaseLog"]

NAMESPACE = "gitkube-system"
RELEASE_LABEL = "gitkube.io/release"
STATE_NAME = "gitkube-state"
KEEP_RELEASES = 100


@dataclass
class Release:
    number: int
    commit: str
    author: str = ""
    message: str = ""
    trigger: str = ""
    started: str = ""
    finished: str = ""
    outcome: str = "Progressing"
    reason: str = ""
    changes: list[dict[str, str]] = field(default_factory=list)  # the first 500 changed objects
    counts: dict[str, int] = field(default_factory=dict)         # create/update/delete/unchanged totals
    duration: float | None = None
    rolled_back_to: str = ""

    @property
    def name(self) -> str:
        return f"release-{self.number:06d}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class EngineState:
    commit: str = ""            # last commit applied (whatever its outcome)
    healthy: str = ""           # last commit whose sync ended Synced
    held: str = ""              # rollback target held until a newer commit arrives
    held_head: str = ""         # branch head when the hold started
    failed: dict[str, str] = field(default_factory=dict)   # commit -> reason (not retried)
    inventory: set[ObjectKey] = field(default_factory=set)
    resource_version: str = ""

    def inventory_keys(self) -> list[str]:
        return sorted(str(k) for k in self.inventory)


def _elapsed(started: str) -> float:
    try:
        begin = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (dt.datetime.now(dt.UTC) - begin).total_seconds())


class ReleaseLog:
    def __init__(self, client: Client, namespace: str = NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace
        self._ns_ready = False

    async def ensure_namespace(self) -> None:
        if self._ns_ready:
            return
        try:
            await self.client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": self.namespace}})
        except errors.AlreadyExists:
            pass
        self._ns_ready = True

    # -- releases -----------------------------------------------------------------------------

    async def entries(self, limit: int | None = None) -> list[Release]:
        """Newest first."""
        try:
            body = await self.client.list("configmaps", self.namespace, label_selector=RELEASE_LABEL)
        except errors.NotFound:
            return []
        out = []
        for item in body.get("items") or []:
            raw = (item.get("data") or {}).get("release.json")
            if raw:
                try:
                    out.append(Release.from_dict(json.loads(raw)))
                except (ValueError, TypeError):
                    continue
        out.sort(key=lambda r: r.number, reverse=True)
        return out[:limit] if limit else out

    async def start(self, release: Release) -> Release:
        """Write a new Progressing record with the next free number (or redo ``release`` in place
        when it already has a number)."""
        await self.ensure_namespace()
        release.started = release.started or now()
        release.outcome = "Progressing"
        if release.number:
            await self._write(release)
            return release
        existing = await self.entries()
        number = (existing[0].number if existing else 0) + 1
        for attempt in range(20):
            release.number = number + attempt
            try:
                await self.client.create("configmaps", self._configmap(release), self.namespace)
                break
            except errors.AlreadyExists:
                continue
        await self._trim(existing)
        return release

    async def finish(self, release: Release, outcome: str, reason: str = "") -> Release:
        release.outcome = outcome
        release.reason = reason
        release.finished = now()
        release.duration = round(_elapsed(release.started), 3)
        await self._write(release)
        return release

    async def update(self, release: Release) -> None:
        await self._write(release)

    def _configmap(self, release: Release) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": release.name, "namespace": self.namespace,
                         "labels": {RELEASE_LABEL: "true", "app.kubernetes.io/managed-by": "gitkube-engine"}},
            "data": {"release.json": json.dumps(release.to_dict(), sort_keys=True)},
        }

    async def _write(self, release: Release) -> None:
        await self.client.patch("configmaps", release.name, self._configmap(release), self.namespace,
                                patch_type="apply", field_manager="gitkube-engine", force=True)

    async def _trim(self, existing: list[Release]) -> None:
        for old in existing[KEEP_RELEASES - 1:]:
            try:
                await self.client.delete("configmaps", old.name, self.namespace)
            except errors.NotFound:
                pass

    # -- state --------------------------------------------------------------------------------

    async def state(self) -> EngineState:
        try:
            cm = await self.client.get("configmaps", STATE_NAME, self.namespace)
        except errors.NotFound:
            return EngineState()
        data = json.loads((cm.get("data") or {}).get("state.json") or "{}")
        packed = (cm.get("binaryData") or {}).get("inventory")
        inventory: set[ObjectKey] = set()
        if packed:
            keys = json.loads(zlib.decompress(base64.b64decode(packed)))
            inventory = {ObjectKey.parse(k) for k in keys}
        return EngineState(commit=data.get("commit", ""), healthy=data.get("healthy", ""),
                           held=data.get("held", ""), held_head=data.get("held_head", ""),
                           failed=dict(data.get("failed") or {}), inventory=inventory,
                           resource_version=str((cm.get("metadata") or {}).get("resourceVersion", "")))

    async def save_state(self, state: EngineState) -> None:
        await self.ensure_namespace()
        data = {"commit": state.commit, "healthy": state.healthy, "held": state.held,
                "held_head": state.held_head, "failed": dict(list(state.failed.items())[-50:])}
        packed = base64.b64encode(zlib.compress(json.dumps(state.inventory_keys()).encode(), 6)).decode()
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": STATE_NAME, "namespace": self.namespace,
                           "labels": {"app.kubernetes.io/managed-by": "gitkube-engine"}},
              "data": {"state.json": json.dumps(data, sort_keys=True)},
              "binaryData": {"inventory": packed}}
        result = await self.client.patch("configmaps", STATE_NAME, cm, self.namespace, patch_type="apply",
                                         field_manager="gitkube-engine", force=True)
        state.resource_version = str((result.get("metadata") or {}).get("resourceVersion", ""))
