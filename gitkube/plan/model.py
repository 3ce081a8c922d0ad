"""The plan's data model: what one sync of a commit would do, object by object.

:class:`Plan` is what :func:`gitkube.plan.make_plan` returns and what ``gitkube diff`` prints
(text through :mod:`gitkube.plan.render`, ``-o json`` through :meth:`Plan.to_json`), what the
sync engine applies wave by wave and what the pre-receive hook checks for problems. Plain
dataclasses, no behaviour beyond grouping and JSON rendering.

Also the labels and annotations gitkube puts on and reads from the objects it manages.
Secret values never reach :meth:`Plan.to_json`: field changes of Secrets carry placeholders
(see :mod:`gitkube.plan.diff`), and objects themselves are not part of the JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitkube.api.objectkey import ObjectKey

__all__ = [
    "ACTIONS",
    "FIELD_MANAGER",
    "OWNER_LABEL",
    "OWNER_VALUE",
    "PRUNE_ANNOTATION",
    "PRUNE_DISABLED",
    "SENSITIVE",
    "SOURCE_ANNOTATION",
    "WAVE_ANNOTATION",
    "Change",
    "Desired",
    "FieldChange",
    "Plan",
]

OWNER_LABEL = "app.kubernetes.io/managed-by"
OWNER_VALUE = "gitkube"
SOURCE_ANNOTATION = "gitkube.io/source"
PRUNE_ANNOTATION = "gitkube.io/prune"
PRUNE_DISABLED = "disabled"
WAVE_ANNOTATION = "gitkube.io/sync-wave"
FIELD_MANAGER = "gitkube"
SENSITIVE = "(sensitive)"

ACTIONS = ("create", "update", "delete", "unchanged")


@dataclass(frozen=True)
class Desired:
    """One manifest object and where it came from (``apps/web.yaml:3:1``)."""

    obj: dict[str, Any]
    source: str


@dataclass
class FieldChange:
    """One field that differs: ``spec.template.spec.containers[name=web].image``, ``data.password``.

    ``op`` is "add" (only desired has it), "remove" (only live has it; server-side apply will
    remove it) or "change". Values of Secret data are ``"(sensitive)"``.
    """

    path: str
    op: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.op != "add":
            out["old"] = self.old
        if self.op != "remove":
            out["new"] = self.new
        return out


@dataclass
class Change:
    """What the sync does to one object.

    ``wave`` numbers apply waves 0..n-1 in apply order; for deletes it numbers prune waves in
    prune order. ``desired`` is the stamped object to apply (None for a delete), ``live`` the
    object as read (None for a create). ``fields`` is empty for creates and deletes (the whole
    object is added or removed: ``diff`` shows it). ``diff`` is a unified diff of the normalised
    live object against the normalised desired one, Secret values redacted; "" when unchanged.
    """

    key: ObjectKey
    action: str
    wave: int
    desired: dict[str, Any] | None
    live: dict[str, Any] | None
    fields: list[FieldChange] = field(default_factory=list)
    diff: str = ""
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "object": str(self.key),
            "group": self.key.group,
            "kind": self.key.kind,
            "namespace": self.key.namespace,
            "name": self.key.name,
            "action": self.action,
            "wave": self.wave,
            "source": self.source,
            "fields": [f.to_json() for f in self.fields],
            "diff": self.diff,
        }


@dataclass
class Plan:
    """The whole plan of one sync.

    ``changes``: every desired object (create, update or unchanged) in apply order.
    ``prune``: the deletes, in prune order (reverse apply order).
    ``skipped_prune``: inventory objects not pruned, with the reason.
    ``problems``: pre-flight refusals the planning found; a plan with problems must not be applied.
    """

    changes: list[Change] = field(default_factory=list)
    prune: list[Change] = field(default_factory=list)
    skipped_prune: list[tuple[ObjectKey, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        """No create, update or delete."""
        return not self.prune and all(c.action == "unchanged" for c in self.changes)

    @property
    def waves(self) -> list[list[Change]]:
        """Every object to apply (unchanged ones too: health is awaited for all) grouped by wave."""
        out: list[list[Change]] = []
        for change in self.changes:
            while len(out) <= change.wave:
                out.append([])
            out[change.wave].append(change)
        return [wave for wave in out if wave]

    def counts(self) -> dict[str, int]:
        """How many objects per action: create, update, delete, unchanged."""
        out = dict.fromkeys(ACTIONS, 0)
        for change in (*self.changes, *self.prune):
            out[change.action] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The whole plan as one JSON-ready document (no Secret values, no raw objects)."""
        return {
            "inSync": self.in_sync,
            "summary": self.counts(),
            "problems": list(self.problems),
            "changes": [c.to_json() for c in self.changes],
            "prune": [c.to_json() for c in self.prune],
            "skippedPrune": [{"object": str(key), "reason": why} for key, why in self.skipped_prune],
        }
