"""ControllerRevision helpers shared by the DaemonSet and StatefulSet controllers, after
Kubernetes' ``pkg/controller/history`` and ``controller.ComputeHash``.

A ControllerRevision (apps/v1) is an immutable snapshot (``data``) of a workload's pod
template with a mutable ``revision`` number; ``kubectl rollout history|undo`` for
DaemonSets and StatefulSets reads them: it lists the revisions selected by the workload's
selector and controlled by it (ownerReference ``controller: true`` with the workload's
uid), and for ``undo`` sends their ``data`` back as a strategic merge patch. So a revision
must carry the template's labels plus ``controller-revision-hash``, a controller
ownerReference, and ``data`` that is a valid patch of the owner
(``{"spec": {"template": {..., "$patch": "replace"}}}``, see :func:`template_patch`).

Pure helpers:

- :func:`hash_object` (``controller.ComputeHash`` / ``history.HashControllerRevision``):
  FNV-1a 32 of the canonical JSON of an object (nulls and empty maps/lists dropped) with
  the optional ``collisionCount`` mixed in, encoded in the API server's safe alphabet;
  :func:`hash_template` hashes a pod template that way.
- :func:`revision_name` (``ControllerRevisionName``): ``<parent>-<hash>``, the prefix cut to
  223 characters.
- :func:`template_patch`: the ``data`` the DaemonSet controller stores, and the patch
  ``kubectl rollout undo`` applies.
- :func:`new_revision` (``NewControllerRevision``): an unsaved revision object.
- :func:`controller_ref`, :func:`is_controlled_by`, :func:`owned_revisions`: ownership and
  selection, as kubectl's ``controlledHistory`` sees them.
- :func:`equal_revision`, :func:`find_equal_revisions`, :func:`max_revision`,
  :func:`sort_revisions`: comparing and ordering revisions (by number, then creation, then name).

API helpers (async, through :class:`gitkube.client.Client`):

- :func:`create_revision` (``realHistory.CreateControllerRevision``): creates a revision named
  by the hash of its data; on a name collision with different data it bumps the collision
  count and retries. Returns the stored revision and the collision count used.
- :func:`update_revision_number`: sets ``revision`` (kept data; retried on conflict).
- :func:`delete_revision`: deletes one, ignoring NotFound.
- :func:`list_revisions`: the revisions of a namespace matching a label selector (a direct
  LIST; controllers normally read an informer on ``controllerrevisions`` instead).

Used by :mod:`gitkube.controllers.daemonset` and the StatefulSet controller.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from gitkube import errors
from gitkube.api import meta, selectors
from gitkube.client import Client

__all__ = [
    "CONTROLLER_REVISION_HASH",
    "RESOURCE",
    "controller_ref",
    "create_revision",
    "delete_revision",
    "equal_revision",
    "find_equal_revisions",
    "hash_object",
    "hash_template",
    "is_controlled_by",
    "list_revisions",
    "max_revision",
    "new_revision",
    "owned_revisions",
    "revision_name",
    "sort_revisions",
    "template_patch",
    "update_revision_number",
]

Obj = dict[str, Any]

RESOURCE = "controllerrevisions"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_PREFIX = 223  # 253 minus room for the hash, as ControllerRevisionName does
_CREATE_ATTEMPTS = 10


def _prune(value: Any) -> Any:
    """Drop nulls and empty maps/lists, so an omitted field and an empty one hash alike."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def hash_object(obj: Any, collision_count: int | None = None) -> str:
    """FNV-1a 32 of the canonical JSON of ``obj`` (plus ``collision_count``), safe-encoded."""
    data = json.dumps(_prune(obj), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(8, "little")
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(h))


def hash_template(template: Mapping[str, Any] | None, collision_count: int | None = None) -> str:
    """``controller.ComputeHash(&spec.template, collisionCount)``."""
    return hash_object(dict(template or {}), collision_count)


def revision_name(parent_name: str, hash_: str) -> str:
    """``ControllerRevisionName``: ``<parent>-<hash>`` with the parent cut to 223 characters."""
    return f"{parent_name[:_MAX_PREFIX]}-{hash_}"


def template_patch(workload: Mapping[str, Any]) -> Obj:
    """The revision ``data`` of a DaemonSet (``getPatch``): a strategic merge patch replacing
    ``spec.template`` by the current one."""
    template = copy.deepcopy(dict((workload.get("spec") or {}).get("template") or {}))
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def controller_ref(owner: Mapping[str, Any], kind: str, api_version: str = "apps/v1") -> Obj:
    """``metav1.NewControllerRef(owner, kind)``."""
    m = owner.get("metadata") or {}
    return {"apiVersion": api_version, "kind": kind, "name": m.get("name"), "uid": m.get("uid"),
            "controller": True, "blockOwnerDeletion": True}


def new_revision(parent: Mapping[str, Any], kind: str, template_labels: Mapping[str, str] | None, data: Any,
                 revision: int, collision_count: int | None = None, *,
                 hash_: str | None = None, api_version: str = "apps/v1") -> Obj:
    """``NewControllerRevision``: an unsaved revision owned by ``parent``.

    Labelled with ``template_labels`` plus ``controller-revision-hash``; the hash is ``hash_``
    when given (the DaemonSet controller hashes the template), else the hash of ``data``
    with ``collision_count`` (the StatefulSet way). Named :func:`revision_name`.
    """
    pm = parent.get("metadata") or {}
    h = hash_ if hash_ is not None else hash_object(data, collision_count)
    revision_labels = dict(template_labels or {})
    revision_labels[CONTROLLER_REVISION_HASH] = h
    md: Obj = {"name": revision_name(str(pm.get("name") or ""), h), "namespace": pm.get("namespace"),
               "labels": revision_labels, "ownerReferences": [controller_ref(parent, kind, api_version)]}
    annotations = pm.get("annotations")
    if annotations:
        md["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": md,
            "data": copy.deepcopy(data), "revision": int(revision)}


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """``metav1.IsControlledBy``: the controller ref of ``obj`` has ``owner``'s uid."""
    ref = meta.controller_ref(dict(obj))
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


def owned_revisions(revisions: Iterable[Obj], owner: Mapping[str, Any]) -> list[Obj]:
    """The revisions of ``owner``'s namespace selected by its ``spec.selector`` and controlled
    by it (kubectl's ``controlledHistory``), sorted by :func:`sort_revisions`."""
    ns = (owner.get("metadata") or {}).get("namespace")
    selector = selectors.from_label_selector_spec((owner.get("spec") or {}).get("selector"))
    return sort_revisions(
        r for r in revisions
        if (r.get("metadata") or {}).get("namespace") == ns and is_controlled_by(r, owner)
        and not selector.empty and selector.matches(meta.labels_of(r)))


def equal_revision(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """``history.EqualRevision``: same hash label (when both have one) and equal data."""
    if a is None or b is None:
        return a is b
    ha = meta.labels_of(dict(a)).get(CONTROLLER_REVISION_HASH)
    hb = meta.labels_of(dict(b)).get(CONTROLLER_REVISION_HASH)
    if ha and hb and ha != hb:
        return False
    return bool(_prune(a.get("data")) == _prune(b.get("data")))


def find_equal_revisions(revisions: Iterable[Obj], needle: Mapping[str, Any]) -> list[Obj]:
    """``history.FindEqualRevisions``: the revisions whose data equal ``needle``'s."""
    return [r for r in revisions if equal_revision(r, needle)]


def max_revision(revisions: Iterable[Mapping[str, Any]]) -> int:
    return max((int(r.get("revision") or 0) for r in revisions), default=0)


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """``history.SortControllerRevisions``: by revision, then creation time, then name."""
    return sorted(revisions, key=lambda r: (int(r.get("revision") or 0),
                                            str((r.get("metadata") or {}).get("creationTimestamp") or ""),
                                            str((r.get("metadata") or {}).get("name") or "")))


# -- API -------------------------------------------------------------------------------


async def create_revision(client: Client, parent: Mapping[str, Any], revision: Obj,
                          collision_count: int | None = None) -> tuple[Obj, int]:
    """``CreateControllerRevision``: create ``revision`` named by the hash of its data.

    An existing revision of that name with equal data is returned as is; one with other
    data is a hash collision: the count goes up and the name is computed again. Returns
    the stored revision and the collision count that named it (callers store it in their
    ``status.collisionCount``).
    """
    count = int(collision_count or 0)
    ns = (parent.get("metadata") or {}).get("namespace")
    base = str((parent.get("metadata") or {}).get("name") or "")
    for _ in range(_CREATE_ATTEMPTS):
        candidate = copy.deepcopy(revision)
        h = hash_object(candidate.get("data"), count)
        candidate["metadata"]["name"] = revision_name(base, h)
        candidate["metadata"].setdefault("labels", {})[CONTROLLER_REVISION_HASH] = h
        try:
            return await client.create(RESOURCE, candidate, ns), count
        except errors.AlreadyExists:
            existing = await client.get(RESOURCE, candidate["metadata"]["name"], ns)
            if equal_revision(existing, candidate):
                return existing, count
            count += 1
    raise errors.Conflict(f"controllerrevisions: no free name for {base} after {_CREATE_ATTEMPTS} hash collisions")


async def update_revision_number(client: Client, revision: Obj, number: int) -> Obj:
    """Set ``revision.revision`` to ``number`` (``realHistory.UpdateControllerRevision``)."""
    current = copy.deepcopy(revision)
    for _ in range(3):
        if int(current.get("revision") or 0) == number:
            return current
        current["revision"] = number
        try:
            return await client.update(RESOURCE, current)
        except errors.Conflict:
            m = current["metadata"]
            current = await client.get(RESOURCE, m["name"], m.get("namespace"))
    raise errors.Conflict(f"controllerrevisions \"{revision['metadata']['name']}\": conflict renumbering")


async def delete_revision(client: Client, revision: Mapping[str, Any]) -> None:
    m = revision.get("metadata") or {}
    try:
        await client.delete(RESOURCE, str(m.get("name")), m.get("namespace"), uid=m.get("uid"))
    except errors.NotFound:
        pass


async def list_revisions(client: Client, namespace: str, label_selector: str = "") -> list[Obj]:
    body = await client.list(RESOURCE, namespace, label_selector=label_selector)
    return list(body.get("items") or [])
