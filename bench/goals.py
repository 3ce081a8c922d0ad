"""The benchmark goals of gitkube's issues, as data, and their evaluation against one run_all result.

Every goal the issues state (issue 2: the API server; issue 3: scheduler, scale-up, pod start;
issue 4: the GitOps engine; issue 8 asks for them all in one report) is one :class:`Goal`: which
section of ``bench/run_all.py``'s JSON holds the number and where, the comparison, the goal value,
and the baseline measured in the same run when there is one (the PyYAML CSafeLoader parse of the
same files for the cold diff, an idle daemon for memory, the scheduling cycle alone for the
scheduler). Figures the issues quote but nothing here measures (kube-scheduler's rate, Argo CD's
poll interval) are kept as ``reference`` text. A few component targets that the bench scripts
carry themselves (bench_manifests.py, bench_plan.py) are listed too, marked as such.

:func:`evaluate` turns the ``sections`` of a result document into :class:`Row` values; called by
bench/report.py (docs/benchmarks.md), bench/run_all.py (the ``goals`` list of the JSON) and
tests/bench/test_run_all.py. Pure: no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "GOALS",
    "Goal",
    "Row",
    "Sections",
    "at",
    "evaluate",
    "fmt",
    "gitops_sizes",
    "largest",
    "lookup",
    "plan_sizes",
    "text",
]

Sections = Mapping[str, Mapping[str, Any]]
"""run_all's ``sections``: section name -> record with ``result`` (the script's JSON) or ``error``."""


def lookup(sections: Sections, name: str | None, path: str) -> Any:
    """The value at dotted ``path`` in section ``name``'s result, or None when anything is missing."""
    if name is None:
        return None
    node: Any = (sections.get(name) or {}).get("result")
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def fmt(value: Any, unit: str = "") -> str:
    """A number as a reader wants it: thousands separators, no spurious decimals."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    v = float(value)
    if isinstance(value, int) and abs(v) < 100:
        out = str(value)
    elif abs(v) >= 100:
        out = f"{v:,.0f}"
    elif abs(v) >= 10:
        out = f"{v:,.1f}"
    elif abs(v) >= 1:
        out = f"{v:.2f}"
    else:
        out = f"{v:.3f}"
    if unit == "×":
        return out + "×"
    return f"{out} {unit}".strip()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sized(sections: Sections, prefix: str, count_path: str) -> list[tuple[int, str]]:
    found = []
    for name in sections:
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            count = _number(lookup(sections, name, count_path))
            found.append((int(count) if count is not None else int(name[len(prefix):]), name))
    return sorted(found)


def gitops_sizes(sections: Sections) -> list[tuple[int, str]]:
    """(objects, section name) of every ``gitops_sync_<N>`` section, smallest first."""
    return _sized(sections, "gitops_sync_", "sync.objects")


def plan_sizes(sections: Sections) -> list[tuple[int, str]]:
    """(objects, section name) of every ``plan_<N>`` section, smallest first."""
    return _sized(sections, "plan_", "objects")


def largest(sized: list[tuple[int, str]]) -> str | None:
    return sized[-1][1] if sized else None


Getter = Callable[[Sections], float | None]
Text = Callable[[Sections], str]


def at(section: str | Callable[[Sections], str | None], path: str, scale: float = 1.0) -> Getter:
    """A getter for the number at ``path`` of ``section`` (a name, or a function choosing one)."""

    def get(sections: Sections) -> float | None:
        name = section(sections) if callable(section) else section
        value = _number(lookup(sections, name, path))
        return None if value is None else value * scale

    return get


def text(template: str, section: str | Callable[[Sections], str | None], *paths: str) -> Text:
    """``template`` formatted with the values at ``paths`` (``""`` when one is missing)."""

    def render(sections: Sections) -> str:
        name = section(sections) if callable(section) else section
        values = [lookup(sections, name, p) for p in paths]
        if any(v is None for v in values):
            return ""
        return template.format(*(fmt(v) for v in values))

    return render


def _largest_gitops(sections: Sections) -> str | None:
    return largest(gitops_sizes(sections))


def _largest_plan(sections: Sections) -> str | None:
    return largest(plan_sizes(sections))


def _daemon_plan_after_sync_start(sections: Sections) -> str:
    name = _largest_gitops(sections)
    starts = lookup(sections, name, "sync.daemon_one_file_push_daemon_sync_start_s") or []
    plans = lookup(sections, name, "sync.daemon_one_file_push_daemon_plan_event_s") or []
    gaps = [p - s for s, p in zip(starts, plans, strict=False) if s is not None and p is not None]
    if not gaps:
        return ""
    return f"in the daemon (pushed, sync start → Plan event): median {statistics.median(gaps):.3f} s"


def _objects(section: Callable[[Sections], str | None], path: str) -> Text:
    def render(sections: Sections) -> str:
        count = _number(lookup(sections, section(sections), path))
        return f"{int(count):,} objects" if count is not None else ""

    return render


@dataclass(frozen=True)
class Goal:
    """One goal: ``value(sections) op target`` is "met"."""

    key: str
    origin: str  # "issue 2", or the bench script for a component target
    area: str
    measure: str
    op: Literal[">=", "<="]
    target: float
    unit: str
    value: Getter
    scope: Text | None = None  # what was measured (size, store): shown next to the measure
    baseline: Text | None = None  # a baseline measured in the same run
    detail: Text | None = None  # further numbers of the same measurement
    reference: str = ""  # a figure quoted by the issue, not measured here


@dataclass(frozen=True)
class Row:
    """A goal evaluated on one run; ``met`` is None when the number was not measured."""

    goal: Goal
    value: float | None
    met: bool | None
    scope: str
    baseline: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        g = self.goal
        return {"key": g.key, "origin": g.origin, "area": g.area, "measure": g.measure, "op": g.op,
                "target": g.target, "unit": g.unit, "value": self.value, "met": self.met, "scope": self.scope,
                "baseline": self.baseline, "detail": self.detail, "reference": g.reference}


def _api_goals(store: str) -> list[Goal]:
    section = f"api_{store}"
    label = "SQLite" if store == "sqlite" else "etcd"
    scope = text(f"TLS, {{}} clients, {label} store", section, "clients")
    return [
        Goal(f"api_gets_{store}", "issue 2", f"API ({label})", "GETs/s, 50 concurrent clients", ">=", 2000,
             "GETs/s", at(section, "gets_per_s"), scope),
        Goal(f"api_creates_{store}", "issue 2", f"API ({label})", "creates/s, 50 concurrent clients", ">=", 500,
             "creates/s", at(section, "creates_per_s"), scope),
        Goal(f"api_watch_p99_{store}", "issue 2", f"API ({label})", "watch latency p99, write → event seen",
             "<=", 50, "ms", at(section, "watch_latency_ms_p99"), scope,
             detail=text("p50 {} ms over {} events", section, "watch_latency_ms_p50", "watch_events")),
    ]


GOALS: tuple[Goal, ...] = (
    *_api_goals("sqlite"),
    *_api_goals("etcd"),
    Goal("scheduler_throughput", "issue 3", "scheduler", "pods bound per second, 100 simulated nodes", ">=", 1000,
         "pods/s", at("scheduler", "pods_per_s"),
         text("{} pods, {} nodes, create → bound", "scheduler", "pods", "nodes"),
         baseline=text("the scheduling cycle alone (no API calls): {} pods/s", "scheduler", "algorithm_pods_per_s"),
         detail=text("{} CPU-s in the process; creates {}/s; bind latency p50 {} ms", "scheduler", "cpu_seconds",
                     "creates_per_s", "p50_bind_latency_ms"),
         reference="kube-scheduler: roughly 100–430 pods/s at large scale (quoted by issue 3, not measured here)"),
    Goal("deployment_scale", "issue 3", "reconcile", "Deployment 0 → N replicas until all Ready (simulated nodes)",
         "<=", 5, "s", at("workloads", "scale.seconds_to_all_ready"),
         text("{} replicas on {} simulated nodes", "workloads", "scale.replicas", "scale.simulated_nodes"),
         detail=text("{} CPU-s in the process ({} pods/s)", "workloads", "scale.cpu_seconds", "scale.pods_per_s")),
    Goal("pod_startup", "issue 3", "node agent", "create → Ready of a real one-container pod, p50", "<=", 500, "ms",
         at("workloads", "startup.create_to_ready_ms_p50"),
         text("{} pods, runtime {}", "workloads", "startup.pods", "startup.runtime"),
         detail=text("p90 {} ms, max {} ms", "workloads", "startup.create_to_ready_ms_p90", "startup.max_ms")),
    Goal("cold_diff", "issue 4", "GitOps diff", "cold `gitkube diff` ÷ CSafeLoader parse of the same files", "<=",
         1.5, "×", at(_largest_gitops, "sync.cold_over_csafeloader"),
         _objects(_largest_gitops, "sync.objects"),
         baseline=text("PyYAML CSafeLoader parse of the same files: {} s", _largest_gitops, "sync.csafeloader_parse_s"),
         detail=text("cold diff {} s (CLI, exit {}); in-process {} s ({}×)", _largest_gitops, "sync.cold_diff_s",
                     "sync.cold_diff_exit", "sync.cold_diff_inprocess_s", "sync.cold_inprocess_over_csafeloader")),
    Goal("warm_diff", "issue 4", "GitOps diff", "warm `gitkube diff` (parse cache present)", "<=", 0.5, "s",
         at(_largest_gitops, "sync.warm_diff_s"), _objects(_largest_gitops, "sync.objects"),
         detail=text("in-process {} s", _largest_gitops, "sync.warm_diff_inprocess_s")),
    Goal("one_file_plan", "issue 4", "GitOps diff", "one-file commit → plan ready", "<=", 0.1, "s",
         at(_largest_gitops, "sync.one_file_commit_to_plan_s"), _objects(_largest_gitops, "sync.objects"),
         detail=_daemon_plan_after_sync_start),
    Goal("commit_to_ready", "issue 4", "GitOps sync", "git push → new pod Ready, one-replica Deployment, p50", "<=",
         1.0, "s", at("gitops_pod", "pod.commit_to_pod_ready_p50_s"),
         text("{} rounds, real pod with a readiness probe", "gitops_pod", "pod.rounds"),
         detail=text("max {} s", "gitops_pod", "pod.commit_to_pod_ready_max_s"),
         reference="Argo CD's default poll interval is ≈180 s (quoted by issue 4)"),
    Goal("daemon_rss", "issue 4", "memory", "daemon RSS holding the synced objects", "<=", 250, "MB",
         at(_largest_gitops, "sync.daemon_rss_mb"), _objects(_largest_gitops, "sync.objects"),
         baseline=text("the same daemon idle, before the push: {} MB", _largest_gitops, "sync.daemon_rss_idle_mb"),
         detail=text("{} MB at the end of the bench", _largest_gitops, "sync.daemon_rss_end_mb")),
    Goal("manifest_cold_load", "bench_manifests.py", "manifests", "cold manifest load ÷ CSafeLoader parse", "<=",
         1.5, "×", at("manifests", "cold_over_csafeloader"), _objects(lambda s: "manifests", "objects"),
         baseline=text("PyYAML CSafeLoader parse of the same blobs: {} s", "manifests", "csafeloader_parse_s"),
         detail=text("cold load {} s; without the process pool {} s", "manifests", "cold_load_s",
                     "cold_load_inline_s")),
    Goal("manifest_warm_load", "bench_manifests.py", "manifests", "warm manifest load (parse cache file)", "<=",
         0.5, "s", at("manifests", "warm_load_s"), _objects(lambda s: "manifests", "objects"),
         detail=text("one changed file: {} s", "manifests", "one_changed_file_load_s")),
    Goal("make_plan", "bench_plan.py", "plan", "`make_plan`, every object in sync (median)", "<=", 0.3, "s",
         at(_largest_plan, "make_plan_in_sync.median_s"), _objects(_largest_plan, "objects"),
         detail=text("one object changed: {} s", _largest_plan, "make_plan_one_change.median_s")),
)


def evaluate(sections: Sections, goals: tuple[Goal, ...] = GOALS) -> list[Row]:
    """Every goal evaluated on ``sections`` (a missing number gives ``met=None``, never an error)."""
    rows = []
    for goal in goals:
        value = goal.value(sections)
        met = None if value is None else (value >= goal.target if goal.op == ">=" else value <= goal.target)
        rows.append(Row(goal, value, met,
                        goal.scope(sections) if goal.scope else "",
                        goal.baseline(sections) if goal.baseline else "",
                        goal.detail(sections) if goal.detail else ""))
    return rows
