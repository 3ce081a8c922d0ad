"""The prune set: objects of the last sync's inventory that the desired set no longer has.

Safety, as kapp and Flux practise it: only objects still live and labelled
``app.kubernetes.io/managed-by: gitkube`` are deleted; ``gitkube.io/prune: disabled`` protects an
object; an object already being deleted is left to finish; a first sync (no inventory) prunes
nothing; and an empty desired set never deletes anything unless ``allow_empty`` - an empty
checkout, a wrong ``--path`` or a broken kustomization must not wipe the cluster. Deletes run in
reverse apply order, numbered in prune waves.

Pure; called by :func:`gitkube.plan.make_plan`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gitkube.api.fieldsv1 import FieldSet, field_pe
from gitkube.api.objectkey import ObjectKey
from gitkube.plan.diff import is_secret, unified
from gitkube.plan.model import OWNER_LABEL, OWNER_VALUE, PRUNE_ANNOTATION, PRUNE_DISABLED, Change
from gitkube.plan.normalize import managed_sets, normalize, prepare, project, type_of
from gitkube.plan.order import sort_key, sync_wave

__all__ = ["plan_prune"]

_IDENTITY = FieldSet.of((field_pe("apiVersion"),), (field_pe("kind"),),
                        (field_pe("metadata"), field_pe("name")), (field_pe("metadata"), field_pe("namespace")))


def _skip_reason(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get(OWNER_LABEL) != OWNER_VALUE:
        return f"not owned by gitkube (no label {OWNER_LABEL}={OWNER_VALUE})"
    if annotations.get(PRUNE_ANNOTATION) == PRUNE_DISABLED:
        return f"annotated {PRUNE_ANNOTATION}: {PRUNE_DISABLED}"
    if meta.get("deletionTimestamp"):
        return "already being deleted"
    return None


def _view(live: Mapping[str, Any]) -> Any:
    """What gitkube applied (its owned fields) or, for an object it never applied, the object
    without what the server sets."""
    node = type_of(str(live.get("apiVersion", "")), str(live.get("kind", "")))
    _, mine, _ = managed_sets(live, secret=is_secret(live))
    if not mine.empty():
        return project(live, mine.union(_IDENTITY), node)
    return normalize(prepare(live), node)


def plan_prune(
    desired_keys: Collection[ObjectKey],
    live: Mapping[ObjectKey, dict[str, Any]],
    inventory: Collection[ObjectKey] | None,
    *,
    allow_empty: bool,
) -> tuple[list[Change], list[tuple[ObjectKey, str]], list[str]]:
    """(deletes in prune order, skipped inventory objects with the reason, problems)."""
    if not inventory:
        return [], [], []
    chosen: list[tuple[tuple[int, int, str, str, str, str], ObjectKey, dict[str, Any]]] = []
    skipped: list[tuple[ObjectKey, str]] = []
    gone = [key for key in inventory if key not in desired_keys and key in live]
    for key in sorted(set(gone)):
        obj = live[key]
        why = _skip_reason(obj)
        if why is not None:
            skipped.append((key, why))
            continue
        wave, _ = sync_wave(obj)
        chosen.append((sort_key(key, wave), key, obj))
    if not desired_keys and chosen and not allow_empty:
        problem = (f"the desired set is empty: refusing to prune {len(chosen)} objects "
                   "(pass --allow-empty to delete them)")
        return [], skipped, [problem]
    chosen.sort(key=lambda entry: entry[0], reverse=True)
    out: list[Change] = []
    wave_no, last = -1, None
    for skey, key, obj in chosen:
        if skey[:2] != last:
            wave_no, last = wave_no + 1, skey[:2]
        diff = unified(_view(obj), None, secret=is_secret(obj), name=str(key))
        out.append(Change(key, "delete", wave_no, None, obj, [], diff, None))
    return out, skipped, []
