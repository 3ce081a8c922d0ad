"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``), with managedFields.

:func:`server_side_apply` follows Kubernetes' field manager (structured-merge-diff's
``Updater.Apply`` wrapped by the apiserver's managers):

1. The applied configuration must be of the endpoint's kind, carry no ``managedFields`` and fit
   the schema (unknown fields, wrong types and duplicate list keys are refused).
2. It is merged onto the live object (:func:`.apply_merge.merge`).
3. The manager's new field set is the set of fields the configuration sets. Fields it owned
   after its previous apply and no longer sets are removed from the object, unless another
   manager owns them (the prune step).
4. Fields the result changes that other managers own are conflicts: 409 with one
   ``FieldManagerConflict`` cause per field, unless ``force`` moves them to this manager.
   For the manager ``kubectl`` on an object carrying kubectl's last-applied annotation, conflicts
   on fields whose live value still equals the last-applied one are allowed (the client-side to
   server-side upgrade), and the annotation is rewritten to the new configuration.
5. ``metadata.managedFields`` is re-encoded; the applier's entry gets ``time`` when the object
   changed.

Callers: the API server's PATCH handler (dry-run or not), via :func:`gitkube.apiserver.patch.parse_apply_body`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gitkube import errors
from gitkube.api.fieldsv1 import FieldSet, Path, canonical_json, path_string
from gitkube.api.schema import Schema, schema_for
from gitkube.api.scheme import by_kind
from gitkube.api.typed import compare, ensure_named, to_field_set
from gitkube.apiserver.patch.apply_managed import (
    Managed,
    ManagerKey,
    OwnershipConflicts,
    VersionedSet,
    decode_managed_fields,
    encode_managed_fields,
    ignored_fields,
    strip_meta,
    update_ownership,
)
from gitkube.apiserver.patch.apply_merge import merge, remove_items
from gitkube.apiserver.patch.apply_update import track_update
from gitkube.apiserver.patch.apply_validate import validate

# track_update (ordinary writes) lives in apply_update; re-exported so one module holds both verbs.
__all__ = ["LAST_APPLIED_ANNOTATION", "conflict_error", "gvk_string", "server_side_apply", "track_update"]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
_KUBECTL = "kubectl"


def gvk_string(api_version: str, kind: str) -> str:
    """Go's GroupVersionKind string: ``apps/v1, Kind=Deployment``, ``/v1, Kind=Pod``."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    api_version: str,
    kind: str,
    now: str,
    subresource: str = "",
) -> dict[str, Any]:
    """Apply ``applied`` for ``manager`` onto ``live`` (None: create); returns the new object.

    Raises errors.BadRequest for a configuration Kubernetes refuses and errors.Conflict (409,
    ``FieldManagerConflict`` causes) for fields owned by other managers when not forced.
    Neither argument is modified.
    """
    node = schema_for(api_version, kind)
    _check_config(applied, api_version, kind, node)
    live_obj = copy.deepcopy(live) if live is not None else {}
    live_meta = live_obj.get("metadata")
    entries = live_meta.pop("managedFields", None) if isinstance(live_meta, dict) else None
    try:
        managed = decode_managed_fields(entries)
    except ValueError:
        managed = Managed()
    info = by_kind(api_version, kind)
    ignored = ignored_fields(info is not None and info.has_status, subresource)
    key = ManagerKey(manager, "Apply", "", subresource)

    try:
        new, fields = _apply(live_obj, applied, managed, key, force, ignored, api_version, node)
    except OwnershipConflicts as exc:
        if manager != _KUBECTL or force:
            raise conflict_error(exc.paths()) from None
        allowed = _allowed_by_last_applied(live_obj, api_version, node)
        remaining = [(k, p) for k, p in exc.paths() if allowed is None or not allowed.has(p)]
        if remaining:
            raise conflict_error(remaining) from None
        new, fields = _apply(live_obj, applied, managed, key, True, ignored, api_version, node)

    times = dict(managed.times)
    if new != live_obj:
        times[key] = now
    result = Managed(fields, {k: times.get(k) for k in fields})
    if manager == _KUBECTL:
        _sync_last_applied(new, applied)
    encoded = encode_managed_fields(result)
    meta = new.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    return new


def _check_config(applied: Any, api_version: str, kind: str, node: Schema | None) -> None:
    if not isinstance(applied, dict):
        raise errors.BadRequest("error decoding YAML: the applied configuration must be an object")
    got_version = str(applied.get("apiVersion") or "")
    got_kind = str(applied.get("kind") or "")
    if (got_version, got_kind) != (api_version, kind):
        raise errors.BadRequest(f"invalid object type: {gvk_string(got_version, got_kind)}")
    meta = applied.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")
    problems = validate(applied, node)
    if problems:
        ns = str(meta.get("namespace") or "") if isinstance(meta, dict) else ""
        name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
        detail = problems[0] if len(problems) == 1 else "errors:\n  " + "\n  ".join(problems)
        raise errors.BadRequest(
            f"failed to create typed patch object ({ns}/{name}; {gvk_string(api_version, kind)}): {detail}"
        )


def _apply(
    live: dict[str, Any],
    applied: dict[str, Any],
    managed: Managed,
    key: ManagerKey,
    force: bool,
    ignored: FieldSet,
    api_version: str,
    node: Schema | None,
) -> tuple[dict[str, Any], dict[ManagerKey, VersionedSet]]:
    new = merge(live, applied, node)
    last = managed.fields.get(key)
    fields = dict(managed.fields)
    fields[key] = VersionedSet(to_field_set(applied, node).recursive_difference(ignored), api_version, True)
    if last is not None and not last.fields.empty():
        new = _prune(new, fields, last.fields, node)
    fields, _ = update_ownership(live, new, fields, key, force=force, ignored=ignored, node=node)
    mine = fields.get(key)
    if mine is not None:
        stripped = strip_meta(mine.fields)
        if stripped.empty():
            del fields[key]
        else:
            fields[key] = VersionedSet(stripped, api_version, True)
    return new, fields


def _prune(
    merged: dict[str, Any], fields: dict[ManagerKey, VersionedSet], last: FieldSet, node: Schema | None
) -> dict[str, Any]:
    """Remove what the applier owned last time and no longer applies, unless someone else owns it."""
    last_named = ensure_named(last, node)
    pruned = remove_items(merged, last_named, node)
    owned = FieldSet()
    for vs in fields.values():
        owned = owned.union(vs.fields)
    merged_set = ensure_named(to_field_set(merged, node), node)
    pruned_set = ensure_named(to_field_set(pruned, node), node)
    owned_named = ensure_named(owned, node)
    pruned = remove_items(merged, merged_set.difference(pruned_set.union(owned_named)), node)
    pruned_set = ensure_named(to_field_set(pruned, node), node)
    result: dict[str, Any] = remove_items(
        merged, merged_set.difference(pruned_set).intersection(last_named), node
    )
    return result


def _allowed_by_last_applied(live: dict[str, Any], api_version: str, node: Schema | None) -> FieldSet | None:
    """Fields kubectl's last-applied annotation sets with the value the object still has."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED_ANNOTATION)
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version or validate(last, node):
        return None
    cmp = compare(last, live, node)
    return to_field_set(last, node).difference(cmp.modified).difference(cmp.added).difference(cmp.removed)


def _sync_last_applied(obj: dict[str, Any], applied: dict[str, Any]) -> None:
    annotations = (obj.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED_ANNOTATION):
        return
    config = copy.deepcopy(applied)
    config_annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(config_annotations, dict):
        config_annotations.pop(LAST_APPLIED_ANNOTATION, None)
    annotations[LAST_APPLIED_ANNOTATION] = canonical_json(config) + "\n"


def conflict_error(conflicts: list[tuple[ManagerKey, Path]]) -> errors.Conflict:
    """The 409 Kubernetes answers for apply conflicts, with one cause per field."""
    causes = [
        errors.Cause(
            field=path_string(path), message=f"conflict with {key.describe()}", reason="FieldManagerConflict"
        )
        for key, path in conflicts
    ]
    if len(conflicts) == 1:
        key, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {key.describe()}: {path_string(path)}"
    else:
        lines: list[str] = []
        for key in sorted({k for k, _ in conflicts}):
            lines.append(f"conflicts with {key.describe()}:")
            lines.extend(f"- {path_string(p)}" for k, p in conflicts if k == key)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, causes=causes)
