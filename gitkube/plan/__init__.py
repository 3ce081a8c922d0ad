"""The plan: what a sync of a commit would do, computed without any I/O.

``make_plan(desired, live, inventory)`` compares every desired object with its live counterpart
(normalised so that nothing the API server sets shows as a difference), orders the objects into
apply waves and works out the prune set with its safety rules. ``render_text`` prints a plan for
``gitkube diff``; ``Plan.to_json`` is ``gitkube diff -o json``. ``object_diff`` is the single-object
comparison the drift check uses; ``stamp`` marks an object as gitkube's.

Pure: no I/O, no asyncio, no client. Callers: the CLI's diff, the sync engine, the git hooks.
"""

from gitkube.plan.checksums import CHECKSUM_ANNOTATION, referenced, with_config_checksums
from gitkube.plan.diff import object_diff
from gitkube.plan.make import make_plan, source_path, stamp
from gitkube.plan.model import (
    FIELD_MANAGER,
    OWNER_LABEL,
    OWNER_VALUE,
    PRUNE_ANNOTATION,
    SOURCE_ANNOTATION,
    WAVE_ANNOTATION,
    Change,
    Desired,
    FieldChange,
    Plan,
)
from gitkube.plan.render import render_brief, render_text

__all__ = [
    "CHECKSUM_ANNOTATION",
    "FIELD_MANAGER",
    "OWNER_LABEL",
    "OWNER_VALUE",
    "PRUNE_ANNOTATION",
    "SOURCE_ANNOTATION",
    "WAVE_ANNOTATION",
    "Change",
    "Desired",
    "FieldChange",
    "Plan",
    "make_plan",
    "object_diff",
    "referenced",
    "render_brief",
    "render_text",
    "source_path",
    "stamp",
    "with_config_checksums",
]
