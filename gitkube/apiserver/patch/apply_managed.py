"""``metadata.managedFields``: decoding, encoding, manager identities and the shared update step.

A managed-fields entry belongs to a manager identity: its name, its operation (``Apply`` or
``Update``), for ``Update`` the apiVersion it wrote with, and the subresource it wrote through.
Two ``Update`` writes by ``kubectl-edit`` with different apiVersions are two entries; an applier
keeps one entry whatever version it applies. Entries are written in Kubernetes' order (Apply
before Update, then by time, manager, apiVersion, subresource).

:func:`update_ownership` is structured-merge-diff's ``Updater.update``: the fields a write
modified or added are taken away from every other manager (or reported as conflicts), and the
fields it removed are removed from everyone.

Callers: :mod:`.apply` (server-side apply) and :mod:`.apply_update` (ordinary writes).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from gitkube.api.fieldsv1 import FieldSet, Path, field_pe
from gitkube.api.schema import Schema
from gitkube.api.typed import Comparison, compare

__all__ = [
    "MAX_UPDATE_MANAGERS",
    "Managed",
    "ManagerKey",
    "OwnershipConflicts",
    "VersionedSet",
    "cap_update_managers",
    "decode_managed_fields",
    "encode_managed_fields",
    "ignored_fields",
    "strip_meta",
    "update_ownership",
]

MAX_UPDATE_MANAGERS = 10
_ANCIENT = "ancient-changes"


@dataclass(frozen=True, order=True)
class ManagerKey:
    """A manager identity (Kubernetes' JSON manager identifier, as a value)."""

    manager: str
    operation: str
    api_version: str = ""
    subresource: str = ""

    def describe(self) -> str:
        """How conflict messages name the manager: ``"kubectl"``, ``"x" using apps/v1``."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass
class VersionedSet:
    fields: FieldSet
    api_version: str
    applied: bool


@dataclass
class Managed:
    """Every manager's fields and the time of its last change."""

    fields: dict[ManagerKey, VersionedSet] = field(default_factory=dict)
    times: dict[ManagerKey, str | None] = field(default_factory=dict)


class OwnershipConflicts(Exception):
    """Fields a write changes that other managers own: manager -> conflicting paths."""

    def __init__(self, conflicts: dict[ManagerKey, FieldSet]) -> None:
        super().__init__(f"{len(conflicts)} managers in conflict")
        self.conflicts = conflicts

    def paths(self) -> list[tuple[ManagerKey, Path]]:
        return [(key, path) for key in sorted(self.conflicts) for path in self.conflicts[key].paths()]


def decode_managed_fields(entries: Any) -> Managed:
    """Parse ``metadata.managedFields``; raises ValueError the way Kubernetes refuses bad entries."""
    managed = Managed()
    if entries is None:
        return managed
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"managed fields entry {i} must be an object")
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        api_version = str(entry.get("apiVersion") or "")
        if not api_version:
            raise ValueError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType") or ""
        if fields_type == "":
            raise ValueError(f"missing fieldsType in managed fields entry {i}")
        if fields_type != "FieldsV1":
            raise ValueError(f'invalid fieldsType "{fields_type}" in managed fields entry {i}')
        key = ManagerKey(
            manager=str(entry.get("manager") or ""),
            operation=operation,
            api_version="" if operation == "Apply" else api_version,
            subresource=str(entry.get("subresource") or ""),
        )
        fields = FieldSet.from_fields_v1(entry.get("fieldsV1") or {})
        managed.fields[key] = VersionedSet(fields, api_version, operation == "Apply")
        time = entry.get("time")
        managed.times[key] = str(time) if time else None
    return managed


def _seconds(time: str | None) -> float:
    if not time:
        return 0.0
    try:
        return datetime.datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def encode_managed_fields(managed: Managed) -> list[dict[str, Any]]:
    """The ``metadata.managedFields`` list, empty sets dropped, in Kubernetes' order."""
    rows: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for key, vs in managed.fields.items():
        if vs.fields.empty():
            continue
        time = managed.times.get(key)
        entry: dict[str, Any] = {
            "manager": key.manager,
            "operation": key.operation,
            "apiVersion": vs.api_version,
        }
        if time:
            entry["time"] = time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = vs.fields.to_fields_v1()
        if key.subresource:
            entry["subresource"] = key.subresource
        order = (key.operation, _seconds(time), key.manager, vs.api_version, key.subresource)
        rows.append((order, entry))
    rows.sort(key=lambda row: row[0])
    return [entry for _, entry in rows]


_STRIP = FieldSet.of(
    (field_pe("apiVersion"),),
    (field_pe("kind"),),
    (field_pe("metadata"),),
    *(
        (field_pe("metadata"), field_pe(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
)


def strip_meta(fields: FieldSet) -> FieldSet:
    """Drop the fields nobody owns: apiVersion, kind and the server-set metadata."""
    return fields.difference(_STRIP)


def ignored_fields(has_status: bool, subresource: str) -> FieldSet:
    """Fields a write through this endpoint cannot set, so nobody owns them there (reset fields)."""
    if subresource == "status":
        return FieldSet.of((field_pe("spec"),))
    if not subresource and has_status:
        return FieldSet.of((field_pe("status"),))
    return FieldSet()


def update_ownership(
    old: Any,
    new: Any,
    managed: dict[ManagerKey, VersionedSet],
    workflow: ManagerKey,
    *,
    force: bool,
    ignored: FieldSet,
    node: Schema | None,
) -> tuple[dict[ManagerKey, VersionedSet], Comparison]:
    """Take what ``new`` changed from every manager but ``workflow``; raise on conflicts unless forced."""
    cmp = compare(old, new, node).exclude(ignored)
    changed = cmp.modified.union(cmp.added)
    conflicts: dict[ManagerKey, FieldSet] = {}
    for key, vs in managed.items():
        if key == workflow:
            continue
        clash = vs.fields.intersection(changed)
        if not clash.empty():
            conflicts[key] = clash
    if conflicts and not force:
        raise OwnershipConflicts(conflicts)
    out: dict[ManagerKey, VersionedSet] = {}
    for key, vs in managed.items():
        fields = vs.fields
        if key != workflow:
            if key in conflicts:
                fields = fields.difference(conflicts[key])
            if not cmp.removed.empty():
                fields = fields.difference(cmp.removed)
        if not fields.empty():
            out[key] = VersionedSet(fields, vs.api_version, vs.applied)
    return out, cmp


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Merge the oldest Update entries into ``ancient-changes`` buckets past ``limit`` of them."""
    updaters = [key for key, vs in managed.fields.items() if not vs.applied]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda k: (_seconds(managed.times.get(k)), k))
    first_by_version: dict[str, ManagerKey] = {}
    length = len(updaters)
    for key in updaters:
        if length <= limit:
            break
        vs = managed.fields[key]
        bucket = ManagerKey(_ANCIENT, "Update", vs.api_version)
        first = first_by_version.get(vs.api_version)
        if first is None:
            first_by_version[vs.api_version] = key
            continue
        if bucket not in managed.fields:
            managed.fields[bucket] = managed.fields.pop(first)
            managed.times.pop(first, None)
        managed.fields[bucket] = VersionedSet(
            vs.fields.union(managed.fields[bucket].fields), vs.api_version, vs.applied
        )
        managed.fields.pop(key)
        managed.times[bucket] = managed.times.pop(key, None)
        length -= 1
