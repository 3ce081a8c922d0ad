"""Write desired objects with server-side apply, delete pruned ones, and dry-run a plan.

Every write is a server-side apply (``PATCH application/apply-patch+yaml``) with field manager
``gitkube`` and ``force=true``: git is the truth, so a field someone else changed is taken back
(that is what reverting drift means). Deletes use background propagation so owned objects (a
Deployment's ReplicaSets and pods) follow through the garbage collector. ``dry_run`` sends the
same apply with ``dryRun=All``: the server runs its whole validation and admission chain without
writing, which is how pre-flight catches what only the server knows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.plan import FIELD_MANAGER, Change
from gitkube.sync.resources import info_for

__all__ = ["apply", "delete", "dry_run"]

Obj = dict[str, Any]


def _describe(exc: errors.APIError) -> str:
    return str(exc) or exc.__class__.__name__


async def apply(client: Client, key: ObjectKey, obj: Obj, *, dry_run: bool = False) -> Obj:
    info = info_for(key)
    try:
        return await client.patch(info, key.name, obj, key.namespace or None, patch_type="apply",
                                  field_manager=FIELD_MANAGER, force=True, dry_run=dry_run)
    except errors.APIError as exc:
        raise errors.SyncError(f"{key}: {_describe(exc)}") from None


async def delete(client: Client, key: ObjectKey) -> bool:
    """Delete one object; False if it was already gone."""
    try:
        await client.delete(info_for(key), key.name, key.namespace or None, propagation_policy="Background")
        return True
    except errors.NotFound:
        return False
    except errors.APIError as exc:
        raise errors.SyncError(f"{key}: delete failed: {_describe(exc)}") from None


async def dry_run(client: Client, changes: list[Change], *, concurrency: int = 16) -> list[str]:
    """Server-side dry run of every create and update; one problem line per refusal.

    Objects in a namespace the plan itself creates cannot be dry-run (the namespace does not exist
    yet); they keep the local checks only, as ``kubectl apply --dry-run=server`` would fail on them.
    """
    new_namespaces = {c.key.name for c in changes if c.key.kind == "Namespace" and c.action == "create"}
    todo = [c for c in changes if c.action in ("create", "update") and c.desired is not None
            and c.key.namespace not in new_namespaces]
    problems: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(change: Change) -> None:
        assert change.desired is not None
        async with gate:
            try:
                await client.patch(info_for(change.key), change.key.name, change.desired,
                                   change.key.namespace or None, patch_type="apply",
                                   field_manager=FIELD_MANAGER, force=True, dry_run=True)
            except errors.APIError as exc:
                where = f" ({change.source})" if change.source else ""
                problems.append(f"{change.key}{where}: {_describe(exc)}")

    await asyncio.gather(*(one(c) for c in todo))
    return sorted(problems)
