"""Render a bench/run_all.py result document as markdown (docs/benchmarks.md).

:func:`render` takes the JSON document run_all.py writes and returns the page: the machine and
its load, every goal of the issues next to its number, its same-run baseline and "met" or "not
met" (bench/goals.py), diff/sync/memory at each repository size side by side, the SQLite and etcd
stores side by side (through the API server and alone), the other measurements, and a log of the
sections with their wall time and load average. Called by run_all.py (after a run, or with
``--render FILE``) and by tests/bench/test_run_all.py. Pure: no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bench import goals

__all__ = ["fmt", "render"]

Sections = goals.Sections
fmt = goals.fmt


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return lines + [""]


def _get(sections: Sections, name: str | None, path: str) -> Any:
    return goals.lookup(sections, name, path)


def _load(values: Any) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if isinstance(values, list) and values else "–"


def _machine(document: Mapping[str, Any]) -> list[str]:
    m = document.get("machine") or {}
    code = document.get("code") or {}
    uncommitted = code.get("uncommitted") or []
    rows = [
        ("cores", f"{m.get('cpus')} ({m.get('cpu_model', '?')})"),
        ("RAM", f"{m.get('ram_gib')} GiB"),
        ("Python", str(m.get("python"))),
        ("OS", str(m.get("platform"))),
        ("SQLite / etcd", f"{m.get('sqlite')} / {m.get('etcd') or 'not installed'}"),
        ("load average at the start (1 / 5 / 15 min)", _load(m.get("load_average_at_start"))),
        ("load average at the end", _load(m.get("load_average_at_end"))),
        ("code", f"{code.get('head', '?')}" + (f" plus uncommitted changes to {len(uncommitted)} files"
                                               if uncommitted else "")),
        ("run", f"{document.get('mode')} mode, {document.get('started_at')} → {document.get('finished_at', '?')}, "
                f"{fmt(document.get('wall_s'), 's')}"),
    ]
    for rerun in document.get("reruns") or []:
        code = (rerun.get("code") or {}).get("head")
        rows.append(("re-run", f"{', '.join(rerun.get('sections') or [])} at {rerun.get('at')} "
                               f"(load {_load(rerun.get('load_average_at_start'))}"
                               + (f", code {code}" if code else "") + ")"))
    return _table(("", ""), rows)


def _goals(sections: Sections) -> list[str]:
    rows = goals.evaluate(sections)
    out = []
    for row in rows:
        g = row.goal
        sign = "≥" if g.op == ">=" else "≤"
        measured = fmt(row.value, g.unit) if row.value is not None else "not measured"
        if row.detail:
            measured += f"<br><sub>{row.detail}</sub>"
        baseline = row.baseline or "–"
        if g.reference:
            baseline = (baseline if row.baseline else "") + (" <br>" if row.baseline else "") + \
                f"<sub>reference: {g.reference}</sub>"
        verdict = {True: "**met**", False: "**not met**", None: "not measured"}[row.met]
        measure = g.measure + (f"<br><sub>{row.scope}</sub>" if row.scope else "")
        out.append((g.area, measure, f"{sign} {fmt(g.target, g.unit)}", measured, baseline, verdict, g.origin))
    met = sum(1 for r in rows if r.met)
    measured_count = sum(1 for r in rows if r.met is not None)
    lines = [f"{met} of {measured_count} measured goals met ({len(rows)} goals in all).", ""]
    return lines + _table(("area", "measure", "goal", "measured", "baseline (same run)", "verdict", "from"), out)


def _median(values: Any) -> float | None:
    numbers = [v for v in values or [] if isinstance(v, int | float)]
    return statistics.median(numbers) if numbers else None


def _median_gap(sections: Sections, name: str, start: str, end: str) -> float | None:
    starts, ends = _get(sections, name, start) or [], _get(sections, name, end) or []
    gaps = [e - s for s, e in zip(starts, ends, strict=False) if s is not None and e is not None]
    return statistics.median(gaps) if gaps else None


def _by_size(sections: Sections) -> list[str]:
    sizes = goals.gitops_sizes(sections)
    plans = dict((name.removeprefix("plan_"), name) for _, name in goals.plan_sizes(sections))
    if not sizes and not plans:
        return ["Not measured in this run.", ""]
    columns = [name for _, name in sizes]
    Row = tuple[str, Callable[[str], str]]

    def g(path: str, unit: str = "") -> Callable[[str], str]:
        return lambda name: fmt(_get(sections, name, path), unit)

    def plan(path: str) -> Callable[[str], str]:
        return lambda name: fmt(_get(sections, plans.get(name.removeprefix("gitops_sync_")), path), "s")

    rows: list[Row] = [
        ("objects in the repository (incl. 10 Namespaces)", g("sync.objects")),
        ("**baseline**: PyYAML CSafeLoader parse of the same files", g("sync.csafeloader_parse_s", "s")),
        ("cold `gitkube diff` (CLI process, no parse cache)", g("sync.cold_diff_s", "s")),
        ("cold diff ÷ CSafeLoader parse (goal ≤ 1.5×)", g("sync.cold_over_csafeloader", "×")),
        ("cold diff in-process (`prepare()`)", g("sync.cold_diff_inprocess_s", "s")),
        ("warm `gitkube diff` (CLI, parse cache file; goal ≤ 0.5 s)", g("sync.warm_diff_s", "s")),
        ("warm diff in-process", g("sync.warm_diff_inprocess_s", "s")),
        ("— of which: live read (LIST + decode)", g("sync.warm_diff_inprocess_breakdown.live_read_s", "s")),
        ("— of which: load manifests", g("sync.warm_diff_inprocess_breakdown.load_manifests_s", "s")),
        ("— of which: make_plan", g("sync.warm_diff_inprocess_breakdown.make_plan_s", "s")),
        ("`make_plan` alone, all in sync (bench_plan.py, median)", plan("make_plan_in_sync.median_s")),
        ("one-file commit → plan ready, in-process (goal ≤ 0.1 s)", g("sync.one_file_commit_to_plan_s", "s")),
        ("one-file push: daemon sync start → Plan event (median)",
         lambda name: fmt(_median_gap(sections, name, "sync.daemon_one_file_push_daemon_sync_start_s",
                                      "sync.daemon_one_file_push_daemon_plan_event_s"), "s")),
        ("one-file push → Synced in the daemon (median)",
         lambda name: fmt(_median(_get(sections, name, "sync.daemon_one_file_push_daemon_synced_event_s")), "s")),
        ("initial sync: outcome", g("sync.initial_sync_outcome")),
        ("initial sync, push → Synced", g("sync.initial_sync_s", "s")),
        ("initial sync, push → end of the sync (any outcome)", g("sync.initial_sync_detail.ended_s", "s")),
        ("daemon RSS idle (**baseline**)", g("sync.daemon_rss_idle_mb", "MB")),
        ("daemon RSS after the initial sync (goal ≤ 250 MB at 10k)", g("sync.daemon_rss_mb", "MB")),
        ("daemon RSS at the end of the bench", g("sync.daemon_rss_end_mb", "MB")),
    ]
    header = ["measure", *(f"{int(n):,} objects" for n, _ in sizes)]
    lines = _table(header, [(label, *(cell(c) for c in columns)) for label, cell in rows])
    for n, name in sizes:
        outcome = _get(sections, name, "sync.initial_sync_outcome")
        if outcome not in (None, "Synced"):
            reason = str(_get(sections, name, "sync.initial_sync_detail.reason") or "")
            lines += [f"At {int(n):,} objects the initial sync ended **{outcome}**: {reason[:400]}…", ""]
    if plans:
        lines += ["`make_plan` by size (bench_plan.py, 1/4 each Deployment, Service, ConfigMap, Secret; median of "
                  "the rounds):", ""]
        lines += _table(("objects", "all in sync", "one change", "first plan (loads the schemas)"),
                        [(fmt(_get(sections, name, "objects")), fmt(_get(sections, name, "make_plan_in_sync.median_s"), "s"),
                          fmt(_get(sections, name, "make_plan_one_change.median_s"), "s"),
                          fmt(_get(sections, name, "first_plan_incl_schema_load_s"), "s"))
                         for _, name in goals.plan_sizes(sections)])
    return lines


def _stores(sections: Sections) -> list[str]:
    rows = [
        ("API: GETs/s, 50 clients over TLS (goal ≥ 2,000)", "api", "gets_per_s", ""),
        ("API: creates/s, 50 clients (goal ≥ 500)", "api", "creates_per_s", ""),
        ("API: watch latency p50", "api", "watch_latency_ms_p50", "ms"),
        ("API: watch latency p99 (goal ≤ 50 ms)", "api", "watch_latency_ms_p99", "ms"),
        ("store: sequential creates/s", "store", "creates_per_s", ""),
        ("store: sequential updates/s", "store", "updates_per_s", ""),
        ("store: creates/s, 50 in flight", "store", "creates_50_concurrent_per_s", ""),
        ("store: sequential gets/s", "store", "gets_per_s", ""),
        ("store: list 1,000 objects", "store", "list_1000_ms", "ms"),
        ("store: watch fan-out p50 (write → every watcher)", "store", "watch_fanout_latency_p50_ms", "ms"),
        ("store: watch fan-out p99", "store", "watch_fanout_latency_p99_ms", "ms"),
    ]
    out = []
    for label, kind, path, unit in rows:
        sqlite, etcd = _get(sections, f"{kind}_sqlite", path), _get(sections, f"{kind}_etcd", path)
        ratio = f"{etcd / sqlite:.2f}×" if isinstance(sqlite, int | float) and isinstance(etcd, int | float) and sqlite \
            else "–"
        out.append((label, fmt(sqlite, unit), fmt(etcd, unit), ratio))
    objects = _get(sections, "store_sqlite", "objects")
    watchers = _get(sections, "store_sqlite", "watchers")
    note = (f"The store rows use {fmt(objects)} pods of about 1.3 KB and {fmt(watchers)} watchers "
            "(bench_store.py on uvloop); the API rows are a real `gitkube up` with `--store sqlite` or "
            "`--store etcd://…` (a single-member etcd on loopback) and the load generator on the same cores.")
    return _table(("measure", "SQLite", "etcd", "etcd ÷ SQLite"), out) + [note, ""]


def _others(sections: Sections) -> list[str]:
    lines: list[str] = []
    direct = proxied = "proxy"
    if _get(sections, direct, "direct") is not None:
        lines += ["**Service proxy** (bench_proxy.py; the baseline is the same backend reached directly, same run):", ""]
        lines += _table(("measure", "through the proxy", "direct (baseline)", "ratio"), [
            ("new connections/s, 32 clients", fmt(_get(sections, proxied, "through_proxy.connections_per_s")),
             fmt(_get(sections, direct, "direct.connections_per_s")),
             fmt(_get(sections, proxied, "connections_ratio"), "×")),
            ("request latency p50, keep-alive", fmt(_get(sections, proxied, "through_proxy.request_latency_ms.p50"), "ms"),
             fmt(_get(sections, direct, "direct.request_latency_ms.p50"), "ms"), ""),
            ("request latency p99", fmt(_get(sections, proxied, "through_proxy.request_latency_ms.p99"), "ms"),
             fmt(_get(sections, direct, "direct.request_latency_ms.p99"), "ms"), ""),
        ])
    samples = _get(sections, "gitops_pod", "pod.commit_to_pod_ready_samples_s")
    if samples:
        lines += ["**git push → new pod Ready** (bench_gitops.py --only pod), per round: "
                  + ", ".join(fmt(s, "s") for s in samples)
                  + "; push → daemon sync start: "
                  + ", ".join(fmt(s, "s") for s in _get(sections, "gitops_pod", "pod.push_to_daemon_sync_start_s") or [])
                  + ".", ""]
    return lines or ["None in this run.", ""]


def _busy(rec: Mapping[str, Any], cpus: int) -> bool:
    """Whether another load shared the machine around this section (1-minute load above the cores)."""
    before = rec.get("load_average_before") or [0.0]
    return bool(before[0] > cpus)


def _log(sections: Sections, cpus: int) -> list[str]:
    rows = []
    for name, rec in sections.items():
        error = rec.get("error")
        status = "ok" if not error else str(error).splitlines()[0][:160]
        if _busy(rec, cpus):
            status += " (machine busy: load above the core count at the start)"
        if rec.get("rerun_at"):
            status += f"; re-run at {rec['rerun_at']}"
        rows.append((f"`{name}`", f"`{rec.get('script')} {' '.join(rec.get('args') or [])}`",
                     fmt(rec.get("wall_s"), "s"),
                     f"{_load(rec.get('load_average_before'))} → {_load(rec.get('load_average_after'))}", status))
    return _table(("section", "command", "wall time", "load average before → after", "status"), rows)


def render(document: Mapping[str, Any]) -> str:
    """The markdown page for one run_all.py result document."""
    sections: Sections = document.get("sections") or {}
    quick = document.get("mode") == "quick"
    lines = [
        "# Benchmarks",
        "",
        "<!-- Written by `python bench/run_all.py` from its JSON result; edit bench/report.py, not this file. -->",
        "",
        "Every benchmark of gitkube's issues, run with one command on one machine, each number next to "
        "its goal and, where one exists, a baseline measured in the same run. Reproduce with "
        "`python bench/run_all.py` (full sizes, about 15–20 minutes on 2 cores; writes "
        "`bench/results/<date>.json` and this page) or `python bench/run_all.py --quick` (a smoke run "
        "at small sizes in under two minutes, as CI does). `--only NAME --merge FILE` re-runs one "
        "section into an earlier result; `--list` names the sections.",
        "",
    ]
    if quick:
        lines += ["> **Quick mode**: small sizes for a smoke test. These numbers are not comparable with the "
                  "goals, which are stated for the full sizes.", ""]
    lines += [
        "The machine is shared and the load generator runs on the same cores as gitkube, so every "
        "throughput is a floor and every latency a ceiling for this hardware; the load average at the "
        "start and around each section is recorded below. Wall-clock numbers vary between runs by up "
        "to 2× on a loaded machine; the scheduler and scale-up rows also give the CPU seconds used, "
        "which vary less.",
        "",
        "## Machine", "",
        *_machine(document),
        "## Goals", "",
        *_goals(sections),
        "Goals marked *issue N* are the issues' own; *bench_manifests.py* and *bench_plan.py* are "
        "component targets those scripts carry (parts of issue 4's diff goals). Quoted references are "
        "figures from the issues about other tools, not measured here.",
        "",
        "## Diff, sync and memory by repository size", "",
        "bench_gitops.py --only sync: a generated repository (1/4 each Deployments with 0 replicas, "
        "Services, ConfigMaps, Secrets; one object per file over 10 namespaces) pushed to a real "
        "`gitkube up` over git; then `gitkube diff` cold and warm, a one-file commit, three one-file "
        "pushes, and the daemon's RSS.",
        "",
        *_by_size(sections),
        "## SQLite vs etcd", "",
        *_stores(sections),
        "## Other measurements", "",
        *_others(sections),
        "## Sections of this run", "",
        *_log(sections, int((document.get("machine") or {}).get("cpus") or 1)),
    ]
    superseded = document.get("superseded") or []
    if superseded:
        lines += ["## Attempts replaced by a re-run", "",
                  "Sections re-run (`--only … --merge`) because the machine was busy or the result needed "
                  "confirming; the attempts they replaced:", ""]
        lines += _table(("section", "first started", "load average before", "wall time", "outcome"), [
            (f"`{s.get('section')}`", str(s.get("at") or "in the first run"), _load(s.get("load_average_before")),
             fmt(s.get("wall_s"), "s"),
             (f"initial sync {s['initial_sync_outcome']}" + (f": {s['initial_sync_reason'][:200]}…"
                                                             if s.get("initial_sync_reason") else "")
              if s.get("initial_sync_outcome") else (str(s.get("error"))[:200] if s.get("error") else "ok")))
            for s in superseded])
    errors = [(name, rec) for name, rec in sections.items() if rec.get("error")]
    if errors:
        lines += ["## Errors", ""]
        for name, rec in errors:
            lines += [f"- `{name}`: {str(rec['error'])[:600]}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
