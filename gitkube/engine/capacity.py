"""The capacity pre-flight: quota at the rollout peak and a scheduler dry run, before anything is written.

:func:`check` reads what :mod:`gitkube.plan.capacity` needs from the cluster — the
ResourceQuotas and LimitRanges of the namespaces the plan touches, the live objects those
quotas count, and, when workloads change, the nodes and the pods bound to them — then projects
every quota at rest and at the peak of the rollout and plays the rollouts through the
scheduler's plugins (:mod:`gitkube.engine.fit`). Everything it finds is a pre-flight problem:
``gitkube diff`` exits 2, the pre-receive hook refuses the push, the daemon applies nothing.

A plan that creates, updates or prunes nothing costs no request. Called by
:func:`gitkube.engine.pipeline.prepare` and :func:`gitkube.engine.pipeline.preflight`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from gitkube.api import quota as q
from gitkube.api import scheme
from gitkube.api.quantity import QuantityError
from gitkube.client import Client
from gitkube.plan.capacity import WORKLOAD_KINDS, CapacityReport, ClusterView, project, rollouts
from gitkube.plan.model import Plan

from .fit import simulate

__all__ = ["check"]

Obj = dict[str, Any]


async def _list(client: Client, group: str, plural: str, namespace: str | None = None) -> list[Obj]:
    info = scheme.by_plural(group, plural)
    if info is None:
        return []
    body = await client.list(info, namespace)
    items = [dict(i) for i in body.get("items") or []]
    for item in items:  # list items carry no kind: the quota evaluators need it
        item.setdefault("apiVersion", info.api_version)
        item.setdefault("kind", info.kind)
    return items


def _by_namespace(items: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = defaultdict(list)
    for item in items:
        out[str((item.get("metadata") or {}).get("namespace") or "")].append(item)
    return out


async def check(client: Client, plan: Plan) -> CapacityReport:
    """Project the plan's quota usage and pod placement; problems are refusals."""
    moving = [c for c in (*plan.changes, *plan.prune) if c.action != "unchanged"]
    if not moving:
        return CapacityReport()
    touched = {c.key.namespace for c in moving if c.key.namespace}
    workloads = any((c.key.group, c.key.kind) in WORKLOAD_KINDS for c in moving)
    quotas, limit_ranges = await asyncio.gather(_list(client, "", "resourcequotas"),
                                                _list(client, "", "limitranges"))
    view = ClusterView(quotas={ns: v for ns, v in _by_namespace(quotas).items() if ns in touched},
                       limit_ranges={ns: v for ns, v in _by_namespace(limit_ranges).items() if ns in touched})
    planned_quotas = {c.key.namespace: c.desired for c in plan.changes
                      if c.key.kind == "ResourceQuota" and c.key.group == "" and c.desired is not None}
    counted: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for ns, quota in [*((ns, x) for ns, xs in view.quotas.items() for x in xs), *planned_quotas.items()]:
        counted[ns] |= q.tracked_resources(((quota.get("spec") or {}).get("hard") or {}).keys())
    pods: list[Obj] = []
    if workloads:
        pods_list, nodes = await asyncio.gather(_list(client, "", "pods"), _list(client, "", "nodes"))
        pods, view.nodes = pods_list, nodes
        for ns, items in _by_namespace(pods).items():
            if ns in touched:
                view.objects.setdefault(ns, []).extend(items)
    # the other kinds the quotas count, and their pods when no workload change listed them already
    lists = [(ns, g, p) for ns, kinds in counted.items() for g, p in sorted(kinds)
             if (g, p) != ("", "pods") or not workloads]
    results = await asyncio.gather(*(_list(client, g, p, ns) for ns, g, p in lists))
    for (ns, _, _), items in zip(lists, results, strict=True):
        view.objects.setdefault(ns, []).extend(items)
    found = rollouts(plan, view)
    try:
        report = project(plan, view, found)
    except QuantityError as exc:
        return CapacityReport(problems=[f"a ResourceQuota or LimitRange holds an invalid quantity: {exc}"])
    if workloads:
        problems, warnings = await asyncio.to_thread(simulate, view.nodes, pods, found)
        report.problems += problems
        report.warnings += warnings
    return report
