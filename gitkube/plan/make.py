"""make_plan: desired objects + live objects + the last inventory -> the :class:`Plan`.

For every desired object, in apply order (:mod:`gitkube.plan.order`): stamp it with gitkube's
ownership label and source annotation, then compare it with its live counterpart
(:mod:`gitkube.plan.diff`): no live object is a create, a normalised difference an update,
otherwise unchanged. Then the prune set (:mod:`gitkube.plan.prune`). Problems found on the way
(duplicate objects, invalid sync waves, an empty desired set that would prune) are collected,
not raised: the caller turns a plan with problems into a pre-flight refusal (exit 2).

Pure; called by ``gitkube diff``, the sync engine and the pre-receive hook.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.plan.diff import compare_object, is_secret, unified
from gitkube.plan.model import OWNER_LABEL, OWNER_VALUE, SOURCE_ANNOTATION, Change, Desired, Plan
from gitkube.plan.normalize import normalize, prepare, type_of
from gitkube.plan.order import sort_key, sync_wave
from gitkube.plan.prune import plan_prune

__all__ = ["make_plan", "source_path", "stamp"]

_POSITION = re.compile(r"(:\d+)+$")


def source_path(source: str) -> str:
    """``apps/web.yaml:3:1`` -> ``apps/web.yaml``."""
    return _POSITION.sub("", source)


def stamp(obj: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of ``obj`` labelled as owned by gitkube and annotated with its source file.

    The annotation holds the file path without line and column, so that editing a file above an
    object does not make the object differ. ``obj`` is not modified (copies down to metadata).
    """
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels[OWNER_LABEL] = OWNER_VALUE
    annotations = dict(meta.get("annotations") or {})
    annotations[SOURCE_ANNOTATION] = source_path(source)
    meta["labels"] = labels
    meta["annotations"] = annotations
    out["metadata"] = meta
    return out


def _change(key: ObjectKey, wave: int, stamped: dict[str, Any], live: dict[str, Any] | None,
            source: str) -> Change:
    if live is None:
        view = normalize(prepare(stamped), type_of(str(stamped.get("apiVersion", "")), key.kind))
        diff = unified(None, view, secret=is_secret(stamped), name=str(key))
        return Change(key, "create", wave, stamped, None, [], diff, source)
    cmp = compare_object(stamped, live)
    if not cmp.changed:
        return Change(key, "unchanged", wave, stamped, live, [], "", source)
    diff = unified(cmp.live_view, cmp.desired_view, secret=is_secret(stamped), name=str(key))
    return Change(key, "update", wave, stamped, live, cmp.fields, diff, source)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while planning.

    Planning allocates many short-lived, acyclic containers; each full collection they trigger
    walks every object of the process (10,000 live objects are millions of containers) and
    doubled the time of a 10,000-object plan in measurements. Reference counting frees the
    garbage anyway; the collector resumes afterwards (unless the caller had disabled it).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def make_plan(
    desired: list[Desired],
    live: Mapping[ObjectKey, dict[str, Any]],
    inventory: Collection[ObjectKey] | None,
    *,
    allow_empty: bool = False,
    assume_unchanged: Collection[ObjectKey] = frozenset(),
) -> Plan:
    """The plan of syncing ``desired`` onto ``live``.

    ``live`` holds the live object of every desired key that exists and of every inventory key
    that still exists; a missing key is not live. ``inventory`` is the set of keys the last sync
    applied (None on a first sync: nothing is pruned). ``assume_unchanged`` names keys the caller
    knows to be in sync already (the same desired object, whose live counterpart a watch has
    compared since): they are planned as unchanged without being compared, and need no live
    object - the daemon's incremental planning of a commit that touched a few files.
    """
    with _gc_paused():
        return _make_plan(desired, live, inventory, allow_empty=allow_empty, assumed=assume_unchanged)


def _make_plan(
    desired: list[Desired],
    live: Mapping[ObjectKey, dict[str, Any]],
    inventory: Collection[ObjectKey] | None,
    *,
    allow_empty: bool,
    assumed: Collection[ObjectKey],
) -> Plan:
    plan = Plan()
    seen: dict[ObjectKey, str] = {}
    ordered: list[tuple[tuple[int, int, str, str, str, str], ObjectKey, Desired]] = []
    for item in desired:
        key = ObjectKey.of(item.obj)
        if key in seen:
            plan.problems.append(f"{item.source}: {key} is defined twice (first in {seen[key]})")
            continue
        seen[key] = item.source
        wave, problem = sync_wave(item.obj)
        if problem:
            plan.problems.append(f"{item.source}: {key}: {problem}")
        ordered.append((sort_key(key, wave), key, item))
    ordered.sort(key=lambda entry: entry[0])
    wave_no, last = -1, None
    for skey, key, item in ordered:
        if skey[:2] != last:
            wave_no, last = wave_no + 1, skey[:2]
        if key in assumed:
            plan.changes.append(Change(key, "unchanged", wave_no, stamp(item.obj, item.source), live.get(key), [], "",
                                       item.source))
            continue
        plan.changes.append(_change(key, wave_no, stamp(item.obj, item.source), live.get(key), item.source))
    plan.prune, plan.skipped_prune, problems = plan_prune(seen, live, inventory, allow_empty=allow_empty)
    plan.problems.extend(problems)
    return plan
