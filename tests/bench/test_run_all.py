"""bench/run_all.py: the quick smoke run writes every section and renders the report; the goal
evaluation and the markdown are checked on hand-made results (met, not met, not measured)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import goals, report, run_all
from gitkube.testing.etcd import etcd_binary

ROOT = Path(__file__).resolve().parents[2]


def _section(result: dict[str, Any]) -> dict[str, Any]:
    return {"title": "t", "script": "bench_x.py", "args": [], "wall_s": 1.0, "load_average_before": [1.0, 1.0, 1.0],
            "load_average_after": [1.0, 1.0, 1.0], "result": result}


def _sections(gets: float, rss_big: float) -> dict[str, Any]:
    sync = {"objects": 1010, "csafeloader_parse_s": 0.1, "cold_diff_s": 0.4, "cold_over_csafeloader": 4.0,
            "warm_diff_s": 0.3, "one_file_commit_to_plan_s": 0.05, "daemon_rss_mb": 120.0,
            "daemon_rss_idle_mb": 90.0}
    big = {**sync, "objects": 10010, "daemon_rss_mb": rss_big, "cold_over_csafeloader": 1.2}
    return {
        "api_sqlite": _section({"clients": 50, "gets_per_s": gets, "creates_per_s": 600.0,
                                "watch_latency_ms_p99": 4.0, "watch_latency_ms_p50": 2.0, "watch_events": 300}),
        "gitops_sync_1000": _section({"sync": sync}),
        "gitops_sync_10000": _section({"sync": big}),
        "store_sqlite": _section({"creates_per_s": 9000, "objects": 5000, "watchers": 10}),
        "store_etcd": _section({"creates_per_s": 1800}),
    }


def _rows(sections: dict[str, Any]) -> dict[str, goals.Row]:
    return {row.goal.key: row for row in goals.evaluate(sections)}


def test_goals_met_not_met_and_not_measured() -> None:
    rows = _rows(_sections(gets=2500.0, rss_big=300.0))
    assert rows["api_gets_sqlite"].met is True and rows["api_gets_sqlite"].value == 2500.0
    assert rows["api_creates_sqlite"].met is True
    assert rows["api_watch_p99_sqlite"].met is True
    assert rows["api_gets_etcd"].met is None and rows["api_gets_etcd"].value is None
    # issue 4's goals are judged on the largest repository of the run
    assert rows["daemon_rss"].value == 300.0 and rows["daemon_rss"].met is False
    assert rows["daemon_rss"].scope == "10,010 objects"
    assert rows["daemon_rss"].baseline == "the same daemon idle, before the push: 90.0 MB"
    assert rows["cold_diff"].met is True
    assert rows["cold_diff"].baseline == "PyYAML CSafeLoader parse of the same files: 0.100 s"
    assert rows["scheduler_throughput"].met is None

    rows = _rows(_sections(gets=1999.0, rss_big=250.0))
    assert rows["api_gets_sqlite"].met is False
    assert rows["daemon_rss"].met is True  # the goal is inclusive


def test_every_goal_comes_from_a_known_origin() -> None:
    keys = [g.key for g in goals.GOALS]
    assert len(keys) == len(set(keys))
    for goal in goals.GOALS:
        assert goal.origin.startswith("issue ") or goal.origin.endswith(".py"), goal
        assert goal.op in (">=", "<=")


def test_render_shows_verdicts_baselines_and_both_stores() -> None:
    document = {"mode": "full", "started_at": "2026-01-01T00:00:00+00:00", "wall_s": 10.0,
                "machine": {"cpus": 2, "ram_gib": 8.0, "python": "CPython 3.11.2",
                            "load_average_at_start": [1.5, 1.2, 1.0]},
                "code": {"head": "abc1234", "uncommitted": []},
                "sections": _sections(gets=1500.0, rss_big=300.0)}
    text = report.render(document)
    assert text.startswith("# Benchmarks\n")
    gets_line = next(line for line in text.splitlines() if line.startswith("| API (SQLite) | GETs/s"))
    assert "1,500 GETs/s" in gets_line and "**not met**" in gets_line and "≥ 2,000 GETs/s" in gets_line
    rss_line = next(line for line in text.splitlines() if line.startswith("| memory |"))
    assert "300 MB" in rss_line and "**not met**" in rss_line and "idle" in rss_line
    assert "| 1,010 objects | 10,010 objects |" in text.replace("| measure | ", "| ")
    store_line = next(line for line in text.splitlines() if line.startswith("| store: sequential creates/s"))
    assert store_line == "| store: sequential creates/s | 9,000 | 1,800 | 0.20× |"
    assert "1.50 / 1.20 / 1.00" in text
    assert "not measured" in text
    assert "Quick mode" not in text
    assert "Quick mode" in report.render({**document, "mode": "quick"})


def test_sections_run_under_load_are_flagged() -> None:
    sections = _sections(gets=2500.0, rss_big=200.0)
    sections["store_etcd"] = {**sections["store_etcd"], "load_average_before": [6.5, 4.0, 3.0]}
    text = report.render({"mode": "full", "machine": {"cpus": 2}, "sections": sections})
    busy = [line for line in text.splitlines() if "machine busy" in line]
    assert len(busy) == 1 and busy[0].startswith("| `store_etcd` |")


def test_a_replaced_attempt_stays_in_the_report() -> None:
    sections = _sections(gets=2500.0, rss_big=200.0)
    failed = {**sections["gitops_sync_10000"], "load_average_before": [4.2, 4.0, 3.0]}
    failed["result"] = {"sync": {**failed["result"]["sync"], "initial_sync_outcome": "Failed",
                                 "initial_sync_detail": {"reason": "not healthy after 69s"}}}
    summary = run_all.supersede("gitops_sync_10000", failed)
    assert summary["initial_sync_outcome"] == "Failed" and summary["initial_sync_reason"] == "not healthy after 69s"
    text = report.render({"mode": "full", "machine": {"cpus": 2}, "sections": sections, "superseded": [summary]})
    row = next(line for line in text.splitlines() if line.startswith("| `gitops_sync_10000` | in the first run"))
    assert "4.20 / 4.00 / 3.00" in row and "initial sync Failed: not healthy after 69s" in row


def test_wait_for_quiet_is_bounded() -> None:
    assert run_all.wait_for_quiet(None, 100) == 0.0
    assert run_all.wait_for_quiet(10_000.0, 100) == 0.0  # already quiet: no wait
    started = time.monotonic()
    assert run_all.wait_for_quiet(-1.0, 0.0) == 0.0  # never quiet, but no time to wait
    assert time.monotonic() - started < 1


def test_fmt() -> None:
    assert report.fmt(None) == "–"
    assert report.fmt(5588.4, "GETs/s") == "5,588 GETs/s"
    assert report.fmt(4.24, "×") == "4.24×"
    assert report.fmt(0.0731, "s") == "0.073 s"
    assert report.fmt(10) == "10"


def test_parse_output_finds_the_json_after_log_lines() -> None:
    assert run_all.parse_output('starting\n{\n  "a": 1\n}\n') == {"a": 1}
    assert run_all.parse_output('{"b": [1, 2]}') == {"b": [1, 2]}
    with pytest.raises(ValueError):
        run_all.parse_output("Traceback (most recent call last):\n  boom\n")


@pytest.mark.timeout(600)
def test_quick_run_writes_every_section_and_renders(tmp_path: Path) -> None:
    docs = ROOT / "docs" / "benchmarks.md"
    before = docs.read_bytes() if docs.exists() else None
    out = tmp_path / "quick.json"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=540)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-4000:]
    document = json.loads(out.read_text())

    expected = [s.name for s in run_all.sections(quick=True)]
    assert list(document["sections"]) == expected
    skipped = set() if etcd_binary() is not None else {"api_etcd", "store_etcd"}
    for name, record in document["sections"].items():
        if name in skipped:
            assert record["error"].startswith("skipped"), record
            continue
        assert not record.get("error"), (name, record.get("error"), record.get("stderr_tail"))
        assert isinstance(record["result"], dict) and record["result"], name
        assert record["wall_s"] > 0 and len(record["load_average_before"]) == 3
    assert document["mode"] == "quick"
    assert document["machine"]["cpus"] and document["machine"]["load_average_at_start"]

    evaluated = {g["key"]: g for g in document["goals"]}
    assert set(evaluated) == {g.key for g in goals.GOALS}
    unmeasured = [k for k, g in evaluated.items() if g["value"] is None and not k.endswith("_etcd")]
    assert not unmeasured, unmeasured
    assert all(g["met"] in (True, False) for k, g in evaluated.items() if k not in unmeasured and
               (not k.endswith("_etcd") or not skipped))

    # the page is written next to the JSON, never over docs/benchmarks.md
    page = out.with_suffix(".md").read_text()
    assert (docs.read_bytes() if docs.exists() else None) == before
    for heading in ("## Machine", "## Goals", "## Diff, sync and memory by repository size", "## SQLite vs etcd",
                    "## Sections of this run"):
        assert heading in page
    for goal in goals.GOALS:
        assert goal.measure in page
    assert "Quick mode" in page and "## Errors" not in page

    # --render re-renders the same JSON to the same page
    again = tmp_path / "again.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--render", str(out), "--docs", str(again)],
                   cwd=ROOT, check=True, capture_output=True, timeout=60)
    assert again.read_text() == page
    print(f"quick run: {elapsed:.0f} s")
