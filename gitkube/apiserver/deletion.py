"""DELETE semantics: preconditions, propagation policies, finalizers, graceful deletion.

As in Kubernetes' generic registry:

- ``propagationPolicy`` Background (the default) deletes the object now; the garbage
  collector (``gc``) then deletes dependents whose owners are all gone. ``Foreground`` adds
  the ``foregroundDeletion`` finalizer: the object stays, with a deletionTimestamp, until
  the collector has deleted its dependents. ``Orphan`` adds ``orphan``: the collector
  strips the owner reference from dependents, then lets the object go.
- An object with finalizers is only marked (deletionTimestamp); it disappears when the
  last finalizer is removed by an update (see ``registry.mutate``).
- A Pod bound to a node is deleted gracefully (deletionTimestamp + grace period) and the
  node agent finishes the deletion; ``gracePeriodSeconds=0`` deletes at once.
- Namespaces are always finalized by the collector, which empties them first.

Called by ``handlers`` and ``gc``.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from gitkube import errors
from gitkube.api import meta, scheme, selectors
from gitkube.apiserver import registry as reg

__all__ = ["DeleteOptions", "delete", "delete_collection", "success_status"]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# Kinds whose DELETE answers with the deleted object rather than a Status (ReturnDeletedObject).
_RETURNS_OBJECT = {("", "Pod"), ("", "Service"), ("", "Namespace")}


class DeleteOptions:
    """The parts of ``meta.k8s.io/v1 DeleteOptions`` the registry honours."""

    def __init__(self, body: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> None:
        body = dict(body or {})
        query = dict(query or {})
        self.propagation: str | None = body.get("propagationPolicy") or query.get("propagationPolicy") or None
        if self.propagation is None:
            orphan = body.get("orphanDependents", query.get("orphanDependents"))
            if orphan in (True, "true"):
                self.propagation = "Orphan"
            elif orphan in (False, "false"):
                self.propagation = "Background"
        if self.propagation not in (None, "Background", "Foreground", "Orphan"):
            raise errors.Invalid(
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{self.propagation}": '
                'supported values: "Foreground", "Background", "Orphan", "nil"',
                causes=[errors.Cause("propagationPolicy", f'Unsupported value: "{self.propagation}"', "FieldValueNotSupported")],
            )
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        try:
            self.grace: int | None = None if grace is None else int(grace)
        except (TypeError, ValueError):
            raise errors.BadRequest(f"invalid gracePeriodSeconds: {grace!r}") from None
        pre = body.get("preconditions") or {}
        self.uid: str | None = pre.get("uid")
        self.resource_version: str | None = pre.get("resourceVersion")
        dry = body.get("dryRun") or []
        self.dry_run = "All" in dry or query.get("dryRun") == "All"


def success_status(info: scheme.ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata") or {}
    details: dict[str, Any] = {"name": m.get("name", ""), "kind": info.plural, "uid": m.get("uid", "")}
    if info.group:
        details["group"] = info.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _check_preconditions(info: scheme.ResourceInfo, name: str, live: dict[str, Any], opts: DeleteOptions) -> None:
    m = live["metadata"]
    if opts.uid and opts.uid != m.get("uid"):
        raise errors.Conflict(
            f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: {m.get('uid')}",
            kind=info.plural, name=name, group=info.group,
        )
    if opts.resource_version and opts.resource_version != m.get("resourceVersion"):
        raise errors.Conflict(
            f"Precondition failed: ResourceVersion in precondition: {opts.resource_version}, "
            f"ResourceVersion in object meta: {m.get('resourceVersion')}",
            kind=info.plural, name=name, group=info.group,
        )


def _graceful_seconds(info: scheme.ResourceInfo, live: dict[str, Any], opts: DeleteOptions) -> int:
    if (info.group, info.kind) != ("", "Pod"):
        return 0
    spec = live.get("spec") or {}
    if not spec.get("nodeName") or (live.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if opts.grace is not None:
        return max(0, opts.grace)
    return int(spec.get("terminationGracePeriodSeconds", 30) or 0)


async def delete(
    registry: reg.Registry,
    info: scheme.ResourceInfo,
    namespace: str | None,
    name: str,
    opts: DeleteOptions,
) -> tuple[dict[str, Any], bool]:
    """Delete one object. Returns (reply body, finished) where finished is False when the
    object is only marked for deletion."""
    key = scheme.storage_key(info, namespace, name)
    for _attempt in range(16):
        live = await registry.get(info, namespace, name)
        _check_preconditions(info, name, live, opts)
        if not live["metadata"].get("deletionTimestamp"):
            await registry.policies.admit(info, "DELETE", None, live, dry_run=opts.dry_run)
        lm = live["metadata"]
        finalizers = list(lm.get("finalizers") or [])
        if opts.propagation == "Orphan":
            finalizers = [f for f in finalizers if f != FOREGROUND] + ([ORPHAN] if ORPHAN not in finalizers else [])
        elif opts.propagation == "Foreground":
            finalizers = [f for f in finalizers if f != ORPHAN] + ([FOREGROUND] if FOREGROUND not in finalizers else [])
        elif opts.propagation == "Background":
            finalizers = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
        grace = _graceful_seconds(info, live, opts)
        is_namespace = (info.group, info.kind) == ("", "Namespace")
        ns_finalizers = list(((live.get("spec") or {}).get("finalizers")) or []) if is_namespace else []
        if finalizers or grace > 0 or ns_finalizers:
            marked = copy.deepcopy(live)
            mm = marked["metadata"]
            if finalizers:
                mm["finalizers"] = finalizers
            else:
                mm.pop("finalizers", None)
            if not mm.get("deletionTimestamp"):
                when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=grace)
                mm["deletionTimestamp"] = meta.format_time(when)
                mm["deletionGracePeriodSeconds"] = grace
                if "generation" in mm:
                    mm["generation"] = int(mm["generation"]) + 1
            elif grace < int(mm.get("deletionGracePeriodSeconds") or 0):
                mm["deletionGracePeriodSeconds"] = grace
            if is_namespace:
                marked.setdefault("status", {})["phase"] = "Terminating"
            if opts.dry_run:
                return marked, False
            if marked == live:
                return live, False
            try:
                stored = await registry.store.update(key, marked, expected_rv=lm["resourceVersion"])
            except errors.Conflict:
                continue
            return stored, False
        if opts.dry_run:
            return (live if (info.group, info.kind) in _RETURNS_OBJECT else success_status(info, live)), True
        try:
            deleted = await registry.store.delete(key, expected_rv=lm["resourceVersion"])
        except errors.Conflict:
            continue
        except errors.NotFound:
            raise reg.not_found(info, name) from None
        registry.policies.written(info)
        if info.kind == "Service" and not info.group:
            registry.ips.release((deleted.get("spec") or {}).get("clusterIP"))
        if (info.group, info.kind) in _RETURNS_OBJECT:
            return deleted, True
        return success_status(info, deleted), True
    raise reg.conflict_message(info, name)


async def delete_collection(
    registry: reg.Registry,
    info: scheme.ResourceInfo,
    namespace: str | None,
    opts: DeleteOptions,
    label_selector: selectors.LabelSelector,
    field_selector: selectors.FieldSelector,
) -> dict[str, Any]:
    """Delete every matching object; the reply is the list of what was deleted or marked."""
    listed = await registry.list(info, namespace, label_selector=label_selector, field_selector=field_selector)
    items = []
    for obj in listed.items:
        m = obj["metadata"]
        try:
            body, _ = await delete(registry, info, m.get("namespace"), m["name"], opts)
        except errors.NotFound:
            continue
        items.append(body if body.get("kind") != "Status" else obj)
    return {
        "kind": info.kind_list,
        "apiVersion": info.api_version,
        "metadata": {"resourceVersion": str(listed.revision)},
        "items": items,
    }
