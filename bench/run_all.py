"""Run every gitkube benchmark with one command, write one JSON file and render docs/benchmarks.md.

    python bench/run_all.py [--quick] [--out FILE] [--docs FILE | --no-docs] [--only NAME,...]
                            [--merge FILE] [--render FILE] [--list] [--max-load L [--max-wait S]]

Each bench script of bench/ runs as its own subprocess, one after the other (the machine's cores
are what is measured), with ``PYTHONPATH`` set to this checkout so the code measured is this
tree's. The full mode uses the issues' sizes (10,000-object repositories, 2,000 pods on 100 nodes,
a Deployment of 1,000 replicas; diff at 1k, 5k and 10k objects; the store on SQLite and on etcd);
``--quick`` runs every section at a small size in under two minutes (the CI smoke test,
tests/bench/test_run_all.py). A failing section is recorded with its error and the run goes on.

The JSON (default ``bench/results/<date>.json``; ``<date>-quick.json`` for --quick) holds the
machine (cores, RAM, Python, load average at the start), the code revision, one record per
section (argv, wall time, load average before and after, the script's JSON or the error) and
the goals evaluated (bench/goals.py). The markdown is rendered by bench/report.py: by default
docs/benchmarks.md for a full run and ``<out>.md`` next to the JSON for --quick.
``--only api_sqlite --merge FILE`` re-runs a disturbed section and replaces it in FILE;
``--render FILE`` only renders an existing JSON. ``--max-load 2`` waits (up to ``--max-wait``
seconds) before each section for the machine's 1-minute load average to drop that low.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import goals, report  # noqa: E402

__all__ = ["SCHEMA", "Section", "main", "machine", "parse_output", "run_section", "sections", "supersede",
           "wait_for_quiet", "write"]

SCHEMA = 1
API_SERVICE_CIDRS = {"sqlite": "127.69.0.0/16", "etcd": "127.68.0.0/16"}  # unused by every test daemon
FULL_SIZES = (1000, 5000, 10_000)


@dataclass(frozen=True)
class Section:
    """One bench script invocation."""

    name: str
    script: str
    args: tuple[str, ...]
    timeout: float
    title: str
    needs_etcd: bool = False

    def argv(self) -> list[str]:
        return [sys.executable, str(ROOT / "bench" / self.script), *self.args]


def sections(quick: bool) -> list[Section]:
    """Every section of a full run, or of a ``--quick`` run, in the order they run."""
    q = quick
    out = [
        *(Section(f"api_{store}", "bench_api.py",
                  ("--seconds", "1" if q else "10", "--clients", "50", "--store", store,
                   "--service-cidr", API_SERVICE_CIDRS[store]),
                  180 if q else 600, f"API server over TLS, {store} store", store == "etcd")
          for store in ("sqlite", "etcd")),
        *(Section(f"store_{store}", "bench_store.py",
                  ("--store", store, "--uvloop", "--objects", "300" if q else "5000",
                   "--watchers", "5" if q else "10", "--events", "100" if q else "500"),
                  120 if q else 900, f"store alone, {store}", store == "etcd")
          for store in ("sqlite", "etcd")),
        Section("scheduler", "bench_scheduler.py", ("--pods", "200" if q else "2000", "--nodes", "100"),
                120 if q else 900, "scheduler, 100 nodes"),
        Section("workloads", "bench_workloads.py",
                ("--replicas", "50" if q else "1000", "--nodes", "5" if q else "10", "--pods", "2" if q else "15"),
                120 if q else 900, "Deployment scale-up (simulated nodes) and real pod start"),
        Section("proxy", "bench_proxy.py",
                ("--seconds", "1" if q else "5", "--requests", "200" if q else "2000"),
                120 if q else 600, "service proxy vs direct"),
        Section("manifests", "bench_manifests.py", ("--objects", "300" if q else "10000"),
                120 if q else 900, "manifest load vs CSafeLoader"),
        *(Section(f"plan_{n}", "bench_plan.py", ("--objects", str(n), "--rounds", "2" if q else "5"),
                  120 if q else 900, f"make_plan, {n:,} objects")
          for n in ((1000,) if q else FULL_SIZES)),
        *(Section(f"gitops_sync_{n}", "bench_gitops.py", ("--only", "sync", "--objects", str(n)),
                  180 if q else 3600, f"GitOps sync and diff, {n:,} objects")
          for n in ((100,) if q else FULL_SIZES)),
        Section("gitops_pod", "bench_gitops.py", ("--only", "pod", "--rounds", "2" if q else "7"),
                180 if q else 1200, "git push → pod Ready"),
    ]
    return out


def _read(path: str) -> str:
    with contextlib.suppress(OSError):
        return Path(path).read_text()
    return ""


def _first_line(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""
    return ""


def machine() -> dict[str, Any]:
    """The machine the numbers come from."""
    mem = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal:")),
               "0")
    model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), platform.processor())
    from gitkube.testing.etcd import etcd_binary

    etcd = etcd_binary()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(int(mem) / 2**20, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "etcd": _first_line([etcd, "--version"]) if etcd else None,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _code() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.strip()

    return {"head": git("rev-parse", "--short", "HEAD"),
            "uncommitted": [line[3:] for line in git("status", "--porcelain", "--", "gitkube", "bench").splitlines()]}


def parse_output(stdout: str) -> dict[str, Any]:
    """The JSON object a bench script printed (the first ``{`` line from which the rest parses)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads("\n".join(lines[i:]))
                if isinstance(value, dict):
                    return value
    raise ValueError(f"no JSON object in the output: {stdout[-500:]!r}")


def _stop(proc: subprocess.Popen[str]) -> None:
    """Interrupt a timed-out script (its ``finally`` stops its daemons), then kill it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for_quiet(max_load: float | None, max_wait: float) -> float:
    """Seconds spent waiting (at most ``max_wait``) for the 1-minute load average to fall to
    ``max_load``; the machine is shared, and a section started under load measures the others."""
    if max_load is None:
        return 0.0
    start = time.monotonic()
    while os.getloadavg()[0] > max_load and time.monotonic() - start < max_wait:
        time.sleep(5)
    return round(time.monotonic() - start, 1)


def run_section(section: Section, max_load: float | None = None, max_wait: float = 0.0) -> dict[str, Any]:
    """Run one section; the record always has ``result`` or ``error``."""
    waited = wait_for_quiet(max_load, max_wait)
    record: dict[str, Any] = {"title": section.title, "script": section.script, "args": list(section.args),
                              "waited_for_load_s": waited,
                              "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    if section.needs_etcd:
        from gitkube.testing.etcd import etcd_binary

        if etcd_binary() is None:
            record.update(result=None, error="skipped: etcd is not installed (apt-get install etcd-server)")
            return record
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    started = time.perf_counter()
    proc = subprocess.Popen(section.argv(), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=section.timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        stdout, stderr = proc.communicate()
        record["error"] = f"timed out after {section.timeout:.0f} s"
    record.update(wall_s=round(time.perf_counter() - started, 1), returncode=proc.returncode,
                  load_average_after=[round(x, 2) for x in os.getloadavg()])
    result: dict[str, Any] | None = None
    try:
        result = parse_output(stdout)
    except ValueError as exc:
        record.setdefault("error", str(exc))
    if result is not None and isinstance(result.get("error"), str):
        record.setdefault("error", result["error"])
    for part in ("sync", "pod"):  # bench_gitops records a failed part inside its JSON
        if result is not None and isinstance(result.get(part), dict) and result[part].get("error"):
            record.setdefault("error", f"{part}: {result[part]['error']}")
    if proc.returncode != 0:
        record.setdefault("error", f"exit {proc.returncode}")
    record["result"] = result
    if "error" in record:
        record["stderr_tail"] = stderr[-3000:]
    return record


def supersede(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A short account of a section's attempt that a re-run replaces (when, under what load, the
    outcome), so a report never silently drops a bad attempt."""
    result = record.get("result") or {}
    sync: dict[str, Any] = result["sync"] if isinstance(result.get("sync"), dict) else {}
    return {"section": name, "at": record.get("rerun_at"), "load_average_before": record.get("load_average_before"),
            "wall_s": record.get("wall_s"), "error": record.get("error"),
            "initial_sync_outcome": sync.get("initial_sync_outcome"),
            "initial_sync_reason": (sync.get("initial_sync_detail") or {}).get("reason", "")[:300] or None}


def _default_out(quick: bool) -> Path:
    today = datetime.date.today().isoformat()
    return ROOT / "bench" / "results" / f"{today}{'-quick' if quick else ''}.json"


def write(document: dict[str, Any], out: Path, docs: Path | None) -> None:
    document["goals"] = [row.as_json() for row in goals.evaluate(document["sections"])]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    if docs is not None:
        docs.parent.mkdir(parents=True, exist_ok=True)
        docs.write_text(report.render(document))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in under 2 minutes")
    parser.add_argument("--out", type=Path, help="the JSON file [default: bench/results/<date>[-quick].json]")
    parser.add_argument("--docs", type=Path, help="the markdown [default: docs/benchmarks.md; <out>.md for --quick]")
    parser.add_argument("--no-docs", action="store_true", help="write only the JSON")
    parser.add_argument("--only", default="", help="comma-separated section names (see --list)")
    parser.add_argument("--merge", type=Path, help="re-run sections into this existing JSON (--out defaults to it)")
    parser.add_argument("--render", type=Path, help="only render this JSON to --docs")
    parser.add_argument("--list", action="store_true", help="print the sections and exit")
    parser.add_argument("--max-load", type=float, help="before each section, wait until the 1-minute load "
                        "average is at most this (at most --max-wait seconds)")
    parser.add_argument("--max-wait", type=float, default=300.0, help="see --max-load [default: 300]")
    args = parser.parse_args(argv)

    if args.render is not None:
        document = json.loads(args.render.read_text())
        docs = args.docs or (args.render.with_suffix(".md") if document.get("mode") == "quick"
                             else ROOT / "docs" / "benchmarks.md")
        write(document, args.render, docs)
        print(f"wrote {docs}", file=sys.stderr)
        return 0
    plan = sections(args.quick)
    if args.list:
        for s in plan:
            print(f"{s.name:18} {s.script} {' '.join(s.args)}")
        return 0
    wanted = [name for name in args.only.split(",") if name]
    unknown = set(wanted) - {s.name for s in plan}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; see --list")
    if wanted:
        plan = [s for s in plan if s.name in wanted]

    out: Path = args.out or args.merge or _default_out(args.quick)
    docs = None if args.no_docs else (args.docs or (out.with_suffix(".md") if args.quick
                                                    else ROOT / "docs" / "benchmarks.md"))
    started = datetime.datetime.now(datetime.UTC)
    if args.merge is not None:
        document = json.loads(args.merge.read_text())
        document.setdefault("reruns", []).append({"at": started.isoformat(timespec="seconds"),
                                                  "sections": [s.name for s in plan], "code": _code(),
                                                  "load_average_at_start": [round(x, 2) for x in os.getloadavg()]})
    else:
        document = {"schema": SCHEMA, "mode": "quick" if args.quick else "full",
                    "started_at": started.isoformat(timespec="seconds"), "machine": machine(), "code": _code(),
                    "sections": {}}
    t0 = time.perf_counter()
    for section in plan:
        print(f"== {section.name}: {section.script} {' '.join(section.args)}", file=sys.stderr, flush=True)
        record = run_section(section, args.max_load, args.max_wait)
        if args.merge is not None:
            record["rerun_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            if section.name in document["sections"]:  # keep the attempt it replaces, summarised
                document.setdefault("superseded", []).append(supersede(section.name, document["sections"][section.name]))
        document["sections"][section.name] = record
        status = f"error: {record['error'][:200]}" if record.get("error") else "ok"
        print(f"   {record.get('wall_s', 0)} s, {status}", file=sys.stderr, flush=True)
        write(document, out, None)  # keep what was measured if a later section hangs
    if args.merge is None:
        document["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        document["wall_s"] = round(time.perf_counter() - t0, 1)
        document["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write(document, out, docs)
    print(f"wrote {out}" + (f" and {docs}" if docs else ""), file=sys.stderr)
    failed = [name for name, rec in document["sections"].items()
              if rec.get("error") and not str(rec["error"]).startswith("skipped")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
