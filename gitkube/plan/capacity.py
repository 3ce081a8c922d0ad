"""Quota at the rollout peak: what a plan's workloads will ask of each namespace's ResourceQuotas.

Kubernetes enforces quota only when a controller creates the pods, so a commit that is over
quota is accepted and then sits "Progressing" until its deadline; a rolling update that needs
``maxSurge`` headroom gets stuck the same way. This module answers the question beforehand:

1. Every workload the plan creates, updates or prunes is expanded into the pods it will run
   (:func:`rollouts`): its pod template as a Pod, with the namespace's LimitRange defaults
   applied (the plan's LimitRanges where the commit has them, else the live ones), how many
   replicas, the surge its strategy allows, and the live pods it replaces (those its live
   selector matches).
2. :func:`project` projects each quota of each touched namespace: the usage now (computed from
   the live objects, as the quota controller does), at rest after the sync, and at the peak of
   the rollout. A Deployment rolling with ``maxSurge`` s over O old pods to R new ones peaks at
   ``max(O*old + s*new, min(s, O)*old + R*new)`` per resource (both ends of the surge phase);
   ``Recreate``, StatefulSets, DaemonSets without surge and bare Pods replace pods, peaking at
   ``max(O*old, R*new, min(O, R)*max(old, new))``. Workloads of one namespace are assumed to
   roll at the same time (they do within a sync wave), so their peaks add up: an upper bound.
3. A quota resource whose projected value exceeds ``hard`` *and* grows with this commit is a
   problem, worded as Kubernetes words quota errors; the text says when it fits at rest and only
   the surge breaks it. A pod template a quota would refuse outright (``must specify
   limits.cpu``) or a LimitRange would refuse (``maximum cpu usage per Container is 1 ...``) is
   a problem too: the controller could never create those pods.

Pure (layering rule R4). The engine gathers the live objects (``gitkube.engine.capacity``),
which also runs :func:`rollouts` through the scheduler's filters to see what fits on the nodes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube.api import quota as q
from gitkube.api import selectors
from gitkube.api.objectkey import ObjectKey
from gitkube.api.quantity import Quantity
from gitkube.errors import GitkubeError
from gitkube.plan.model import Change, Plan

__all__ = ["WORKLOAD_KINDS", "CapacityReport", "ClusterView", "QuotaProjection", "Rollout", "project", "rollouts"]

# (group, kind) of the workloads whose pods are projected
WORKLOAD_KINDS = frozenset({("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
                            ("apps", "ReplicaSet"), ("batch", "Job"), ("", "Pod")})
_ZERO = Quantity(0)


@dataclass
class Rollout:
    """One workload's pods before and after the sync."""

    key: ObjectKey
    pod: dict[str, Any] | None        # the new pod template as a Pod (LimitRange defaults applied); None: pruned
    replicas: int                     # new pods at rest (DaemonSets: per eligible node, see ``per_node``)
    surge: int                        # extra new pods allowed above ``replicas`` while old ones remain
    old_pods: list[dict[str, Any]]    # live pods this workload runs now (non-terminal)
    old_template: dict[str, Any] | None = None  # the live template as a Pod, for the surge phase
    per_node: bool = False            # a DaemonSet: one pod per eligible node
    rolls: bool = True                # the pod template changes (otherwise only the count may)


@dataclass
class ClusterView:
    """The live objects a projection needs, per namespace (only the touched namespaces)."""

    quotas: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    limit_ranges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # pods + other counted kinds
    nodes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class QuotaProjection:
    """One quota: per resource the value now, after the sync at rest, at the rollout peak, and hard."""

    namespace: str
    name: str
    now: dict[str, Quantity]
    rest: dict[str, Quantity]
    peak: dict[str, Quantity]
    hard: dict[str, Quantity]
    exceeded: list[str] = field(default_factory=list)   # resources over hard that this commit grows

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "exceeded": list(self.exceeded),
                "resources": {r: {"used": str(self.now.get(r, _ZERO)), "atRest": str(self.rest.get(r, _ZERO)),
                                  "peak": str(self.peak.get(r, _ZERO)), "hard": str(h)}
                              for r, h in sorted(self.hard.items())}}


@dataclass
class CapacityReport:
    """What :func:`project` (and the engine's fit check) found."""

    quotas: list[QuotaProjection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"quotas": [p.to_json() for p in self.quotas], "problems": list(self.problems),
                "warnings": list(self.warnings)}


def _d(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, dict) else {}


def _int_or_percent(value: Any, total: int, *, round_up: bool, default: str) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: 2 or "25%" of ``total``."""
    if value is None:
        value = default
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    text = str(value).strip()
    if text.endswith("%"):
        try:
            share = total * int(text[:-1]) / 100
        except ValueError:
            return 0
        return max(0, math.ceil(share) if round_up else math.floor(share))
    try:
        return max(0, int(text))
    except ValueError:
        return 0


def template_pod(workload: Mapping[str, Any], limit_ranges: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A workload's pod template as the Pod its controller would create (before scheduling)."""
    meta = _d(workload, "metadata")
    template = _d(_d(workload, "spec"), "template")
    if workload.get("kind") == "Pod":
        pod = copy.deepcopy(dict(workload))
    else:
        tmeta = copy.deepcopy(_d(template, "metadata"))
        tmeta["namespace"] = meta.get("namespace") or "default"
        tmeta.setdefault("generateName", f"{meta.get('name', '')}-")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": tmeta, "spec": copy.deepcopy(_d(template, "spec"))}
    pod.pop("status", None)
    q.apply_limit_range_defaults(pod, limit_ranges)
    return pod


def _replicas(change: Change) -> int:
    kind = change.key.kind
    spec = _d(change.desired, "spec")
    live_spec = _d(change.live, "spec")
    if kind == "Pod":
        return 1
    if kind == "Job":
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        n = int(parallelism) if isinstance(parallelism, int) else 1
        return min(n, int(completions)) if isinstance(completions, int) else n
    value = spec.get("replicas", live_spec.get("replicas", 1))  # an HPA may own the count: keep the live one
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 1


def _surge(change: Change, replicas: int) -> int:
    spec = _d(change.desired, "spec")
    kind = change.key.kind
    if kind == "Deployment":
        strategy = _d(spec, "strategy")
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        ru = _d(strategy, "rollingUpdate")
        return _int_or_percent(ru.get("maxSurge"), replicas, round_up=True, default="25%")
    if kind == "DaemonSet":
        strategy = _d(spec, "updateStrategy")
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        return _int_or_percent(_d(strategy, "rollingUpdate").get("maxSurge"), 1, round_up=True, default="0")
    return 0


class _PodIndex:
    """One namespace's live pods, indexed by label pair, so each workload's selector is matched
    against its candidates only (a commit of many workloads would otherwise cost pods x workloads)."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.by_label: dict[tuple[str, str], set[int]] = {}
        self.by_name: dict[str, int] = {}
        for i, pod in enumerate(pods):
            meta = _d(pod, "metadata")
            self.by_name[str(meta.get("name") or "")] = i
            for k, v in (meta.get("labels") or {}).items():
                self.by_label.setdefault((str(k), str(v)), set()).add(i)

    def selected(self, workload: Mapping[str, Any]) -> list[dict[str, Any]]:
        if workload.get("kind") == "Pod":
            name = str(_d(workload, "metadata").get("name") or "")
            i = self.by_name.get(name) if name else None
            return [self.pods[i]] if i is not None else []
        selector = _d(_d(workload, "spec"), "selector")
        if not selector:
            return []
        try:
            parsed = selectors.from_label_selector_spec(selector)
        except GitkubeError:  # an invalid live selector selects nothing, as the controller would
            return []
        if parsed.empty:
            return []
        candidates: set[int] | None = None
        for k, v in (selector.get("matchLabels") or {}).items():
            found = self.by_label.get((str(k), str(v)), set())
            candidates = found if candidates is None else candidates & found
        indices = sorted(candidates) if candidates is not None else range(len(self.pods))
        return [self.pods[i] for i in indices
                if parsed.matches(_d(self.pods[i], "metadata").get("labels") or {})]


def _live_pods(view: ClusterView, namespace: str) -> list[dict[str, Any]]:
    return [o for o in view.objects.get(namespace, []) if o.get("kind") == "Pod"
            and str(_d(o, "status").get("phase") or "") not in ("Succeeded", "Failed")]


def _limit_ranges(plan: Plan, view: ClusterView, namespace: str) -> list[dict[str, Any]]:
    planned = [c.desired for c in plan.changes if c.key.kind == "LimitRange" and c.key.group == ""
               and c.key.namespace == namespace and c.desired is not None]
    pruned = {c.key.name for c in plan.prune if c.key.kind == "LimitRange" and c.key.namespace == namespace}
    names = {_d(lr, "metadata").get("name") for lr in planned}
    live = [lr for lr in view.limit_ranges.get(namespace, [])
            if _d(lr, "metadata").get("name") not in names | pruned]
    return planned + live


def rollouts(plan: Plan, view: ClusterView) -> list[Rollout]:
    """The workloads the plan creates, updates or prunes, with their old and new pods."""
    out: list[Rollout] = []
    indexes: dict[str, _PodIndex] = {}
    ranges: dict[str, list[dict[str, Any]]] = {}
    for change in (*plan.changes, *plan.prune):
        if (change.key.group, change.key.kind) not in WORKLOAD_KINDS or change.action == "unchanged":
            continue
        ns = change.key.namespace or "default"
        if ns not in indexes:
            indexes[ns] = _PodIndex(_live_pods(view, ns))
        old = indexes[ns].selected(change.live) if change.live else []
        if change.action == "delete" or change.desired is None:
            out.append(Rollout(change.key, None, 0, 0, old))
            continue
        if ns not in ranges:
            ranges[ns] = _limit_ranges(plan, view, ns)
        lrs = ranges[ns]
        rolls = change.action == "create" or any(f.path.startswith("spec.template") for f in change.fields)
        if change.key.kind == "Pod":
            rolls = change.action == "create" or bool(change.fields)
        replicas = _replicas(change)
        out.append(Rollout(change.key, template_pod(change.desired, lrs), replicas, _surge(change, replicas), old,
                           template_pod(change.live, lrs) if change.live and change.key.kind != "Pod" else None,
                           per_node=change.key.kind == "DaemonSet", rolls=rolls))
    return out


def _usage(obj: Mapping[str, Any], quota: Mapping[str, Any], hard: Mapping[str, Quantity]) -> dict[str, Quantity]:
    if not q.matches_scopes(quota, obj):
        return {}
    return {k: v if isinstance(v, Quantity) else Quantity(v) for k, v in q.usage_of(obj).items() if k in hard}


def _scaled(usage: Mapping[str, Quantity], n: int) -> dict[str, Quantity]:
    return {k: v * n for k, v in usage.items()}


def _plus(*parts: Mapping[str, Quantity]) -> dict[str, Quantity]:
    out: dict[str, Quantity] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, _ZERO) + v
    return out


def _maxed(*parts: Mapping[str, Quantity]) -> dict[str, Quantity]:
    out: dict[str, Quantity] = {}
    for part in parts:
        for k, v in part.items():
            if k not in out or out[k] < v:
                out[k] = v
    return out


def _workload_usage(r: Rollout, quota: Mapping[str, Any], hard: Mapping[str, Quantity],
                    eligible_nodes: int) -> tuple[dict[str, Quantity], dict[str, Quantity], dict[str, Quantity]]:
    """(old total, new at rest, new at the peak) of one rollout under one quota."""
    old_total = _plus(*(_usage(p, quota, hard) for p in r.old_pods))
    if r.pod is None:
        return old_total, {}, old_total
    new = _usage(r.pod, quota, hard)
    replicas = eligible_nodes if r.per_node else r.replicas
    surge = r.surge * eligible_nodes if r.per_node else r.surge
    rest = _scaled(new, replicas)
    count = len(r.old_pods)
    if not r.rolls or count == 0:
        return old_total, rest, _maxed(old_total, rest)
    old_one = _usage(r.old_template, quota, hard) if r.old_template is not None else new
    if surge > 0:
        peak = _maxed(_plus(old_total, _scaled(new, surge)), _plus(_scaled(old_one, min(surge, count)), rest))
    else:
        peak = _maxed(old_total, rest, _scaled(_maxed(old_one, new), min(count, replicas)))
    return old_total, rest, peak


def _quotas(plan: Plan, view: ClusterView, namespace: str) -> list[dict[str, Any]]:
    planned = [c.desired for c in plan.changes if c.key.kind == "ResourceQuota" and c.key.group == ""
               and c.key.namespace == namespace and c.desired is not None]
    pruned = {c.key.name for c in plan.prune if c.key.kind == "ResourceQuota" and c.key.namespace == namespace}
    names = {_d(x, "metadata").get("name") for x in planned}
    return planned + [x for x in view.quotas.get(namespace, []) if _d(x, "metadata").get("name") not in names | pruned]


def _fmt(values: Mapping[str, Quantity], names: Iterable[str]) -> str:
    return ",".join(f"{n}={values.get(n, _ZERO)}" for n in sorted(names))


def _template_problems(r: Rollout, quotas: list[dict[str, Any]], lrs: list[dict[str, Any]]) -> list[str]:
    if r.pod is None or not r.rolls:
        return []
    out = []
    for lr in lrs:
        for message in q.limit_range_violations(r.pod, lr):
            out.append(f"{r.key}: its pods would be forbidden by LimitRange {_d(lr, 'metadata').get('name', '')}: "
                       f"{message}")
    for quota in quotas:
        if not q.matches_scopes(quota, r.pod):
            continue
        missing = q.missing_constraints(_d(_d(quota, "spec"), "hard"), r.pod)
        if missing:
            out.append(f"{r.key}: its pods would be forbidden by quota {_d(quota, 'metadata').get('name', '')}: "
                       f"{missing}")
    return out


def eligible_node_count(view: ClusterView) -> int:
    """DaemonSet pods per rollout: the schedulable nodes (the engine's fit check refines per node)."""
    return sum(1 for n in view.nodes if not _d(n, "spec").get("unschedulable"))


def project(plan: Plan, view: ClusterView, found: list[Rollout] | None = None) -> CapacityReport:
    """Every quota of every namespace the plan touches, projected at rest and at the rollout peak.
    Raises ``QuantityError`` for an unparsable quantity in a quota (the caller names the object)."""
    found = rollouts(plan, view) if found is None else found
    report = CapacityReport()
    touched = sorted({c.key.namespace for c in (*plan.changes, *plan.prune)
                      if c.action != "unchanged" and c.key.namespace})
    nodes = eligible_node_count(view)
    by_ns: dict[str, list[Rollout]] = {}
    for r in found:
        by_ns.setdefault(r.key.namespace or "default", []).append(r)
    for ns in touched:
        quotas = _quotas(plan, view, ns)
        ns_rollouts = by_ns.get(ns, [])
        lrs = _limit_ranges(plan, view, ns) if ns_rollouts else []
        for r in ns_rollouts:
            report.problems += _template_problems(r, quotas, lrs)
        for quota in quotas:
            report.quotas.append(_project_one(plan, view, ns, quota, ns_rollouts, nodes))
            projection = report.quotas[-1]
            if projection.exceeded:
                report.problems.append(_exceeded_message(projection, ns_rollouts))
    return report


def _project_one(plan: Plan, view: ClusterView, ns: str, quota: Mapping[str, Any], ns_rollouts: list[Rollout],
                 nodes: int) -> QuotaProjection:
    hard = q.parse_resource_list(_d(_d(quota, "spec"), "hard"))
    now = _plus(*(_usage(o, quota, hard) for o in view.objects.get(ns, [])))
    rest, peak = dict(now), dict(now)
    for r in ns_rollouts:
        old, new_rest, new_peak = _workload_usage(r, quota, hard, nodes)
        minus_old = {k: -v for k, v in old.items()}
        rest = _plus(rest, minus_old, new_rest)
        peak = _plus(peak, minus_old, new_peak)
    for c in (*plan.changes, *plan.prune):  # every other counted object: +desired -live
        if c.action == "unchanged" or (c.key.group, c.key.kind) in WORKLOAD_KINDS or c.key.namespace != ns:
            continue
        delta = _plus(_usage(c.desired, quota, hard) if c.desired else {},
                      {k: -v for k, v in (_usage(c.live, quota, hard) if c.live else {}).items()})
        rest, peak = _plus(rest, delta), _plus(peak, delta)
    exceeded = [k for k, h in sorted(hard.items())
                if peak.get(k, _ZERO) > h and now.get(k, _ZERO) < peak.get(k, _ZERO)]
    return QuotaProjection(ns, str(_d(quota, "metadata").get("name") or ""), now, rest, peak, hard, exceeded)


def _exceeded_message(p: QuotaProjection, ns_rollouts: list[Rollout]) -> str:
    names = p.exceeded
    at_rest = [k for k in names if p.rest.get(k, _ZERO) > p.hard[k]]
    surging = [f"{r.key.kind} {r.key.name} maxSurge {r.surge}" for r in ns_rollouts if r.surge and r.rolls and r.old_pods]
    when = ("after the sync" if at_rest else
            "at the peak of the rollout" + (f" ({'; '.join(surging)})" if surging else "") + "; it fits at rest")
    return (f"namespace {p.namespace}: exceeded quota: {p.name} {when}, requested: "
            f"{_fmt({k: p.peak.get(k, _ZERO) - p.now.get(k, _ZERO) for k in names}, names)}, "
            f"used: {_fmt(p.now, names)}, limited: {_fmt(p.hard, names)}"
            + (f" (at rest: {_fmt(p.rest, names)})" if not at_rest else ""))
