"""GitOps engine benchmarks (issue 4), against real ``gitkube up`` daemons and real git; prints JSON.

    PYTHONPATH=. python bench/bench_gitops.py [--only sync|pod] [--objects 10000] [--rounds 7]
                                              [--rollout-timeout DURATION]

``sync`` (one daemon, ``--no-local-node``): a generated repository of N objects (1/4 Deployments
with replicas 0, 1/4 Services without selector, 1/4 ConfigMaps, 1/4 Secrets with stringData, one
object per file over namespaces ns-0..ns-9, plus the 10 Namespaces) is pushed to ``DATA/repo.git``
over the file transport. Measured in this one run:

- ``csafeloader_parse_s``: ``yaml.load_all(..., Loader=yaml.CSafeLoader)`` over the same files,
  already in memory, nothing else (the issue's yardstick);
- ``initial_sync_s``: push start → the daemon's ``Synced`` event (its console, i.e. its log file);
  if the engine gives up on a sync with ``sync step failed`` (it then neither retries nor finishes
  the release), the bench triggers a sync and counts it in ``initial_sync_manual_retries``;
- ``daemon_settle_s``: then until the daemon is at rest (< 15% CPU for 3 s), before the diffs;
- ``cold_diff_s``: ``gitkube diff`` as a subprocess with the parse cache file removed (must exit 0),
  ``cold_diff_inprocess_s``: ``prepare()`` in this process with ``ParseCache(None)``;
- ``warm_diff_s``: the same with the cache file present, plus an in-process breakdown and a
  cProfile top-15 of one warm in-process run;
- ``one_file_commit_to_plan_s``: after a warm run, one changed file committed, ``prepare()`` timed
  (the daemon's situation: parse cache in memory); then three one-file pushes, each timed from
  push start to the pre-receive verdict, the daemon's ``syncing``/``Plan:``/``Synced`` events and
  the hook's lines (``daemon_one_file_push_*``);
- ``daemon_rss_mb``: the daemon process's RSS once it holds the N objects (``daemon_rss_end_mb``:
  after all the above).

``pod`` (a second daemon with a local node): a one-replica Deployment serving HTTP with a readiness
probe; each round changes an env var, commits, pushes, and polls the API every 20 ms until the new
pod is Ready (``commit_to_pod_ready``).

Every daemon is stopped with SIGTERM at the end, even on error; leftover container shims of the
bench's data dirs are killed. Timings are wall-clock on a shared machine: repeat runs vary.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import uvloop
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from gitkube.client import Client, from_kubeconfig  # noqa: E402
from gitkube.engine.pipeline import load_desired, prepare  # noqa: E402
from gitkube.gitsource.repo import GitRepo  # noqa: E402
from gitkube.manifests import ParseCache  # noqa: E402
from gitkube.plan import Desired, make_plan  # noqa: E402
from gitkube.sync import applier  # noqa: E402
from gitkube.sync.releases import ReleaseLog  # noqa: E402
from gitkube.sync.resources import read_live  # noqa: E402
from gitkube.testing.servers import free_port, server_container  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_TERMINAL_PROMPT": "0"}
POD_NS = "bench"

# -- processes ----------------------------------------------------------------------------------


@dataclass
class Daemon:
    data: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def start_daemon(data: Path, extra: list[str], timeout: float = 60.0) -> Daemon:
    port = free_port()
    log_path = data.parent / f"{data.name}.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "gitkube", "--log-level", "info", "up", "--data-dir", str(data),
                                 "--listen", f"127.0.0.1:{port}", *extra],
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, env=ENV)
    daemon = Daemon(data, port, proc, log_path)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gitkube up exited with {proc.returncode}:\n{daemon.log_tail()}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=1) as resp:
                if resp.status == 200 and (data / "kubeconfig").exists():
                    return daemon
        time.sleep(0.05)
    stop_daemon(daemon)
    raise RuntimeError(f"gitkube up not ready after {timeout}s:\n{daemon.log_tail()}")


def stop_daemon(daemon: Daemon) -> None:
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGTERM)
        try:
            daemon.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait()


def reap_shims(data: Path) -> int:
    """Kill container supervisors left under ``data`` (as tests/e2e/test_workloads.py does)."""
    killed = 0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "gitkube.agent.shim" in cmdline and any(str(data) in part for part in cmdline):
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    child.kill()
                proc.kill()
                killed += 1
    return killed


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout.strip()


def gitkube(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gitkube", *args], capture_output=True, text=True, env=ENV,
                          timeout=600)
    return time.perf_counter() - start, proc


@dataclass
class Push:
    """A ``git push`` whose stderr lines, and the daemon's console lines (its log file), are
    time-stamped in seconds since the push started."""

    proc: subprocess.Popen[bytes]
    started: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    daemon_lines: list[tuple[float, str]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, work: Path, remote: Path, daemon_log: Path) -> Push:
        offset = daemon_log.stat().st_size
        started = time.perf_counter()
        proc = subprocess.Popen(["git", "push", str(remote), "HEAD:main"], cwd=work, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        push = cls(proc, started)
        push.threads = [threading.Thread(target=push._read, daemon=True),
                        threading.Thread(target=push._tail, args=(daemon_log, offset), daemon=True)]
        for thread in push.threads:
            thread.start()
        return push

    def _split(self, pending: bytes, chunk: bytes, into: list[tuple[float, str]]) -> bytes:
        now = time.perf_counter() - self.started
        *done, rest = (pending + chunk).replace(b"\r", b"\n").split(b"\n")
        into.extend((now, line.decode(errors="replace").strip()) for line in done if line.strip())
        return rest

    def _read(self) -> None:
        assert self.proc.stderr is not None
        pending = b""
        while chunk := os.read(self.proc.stderr.fileno(), 65536):
            pending = self._split(pending, chunk, self.lines)
        self._split(pending, b"\n", self.lines)

    def _tail(self, path: Path, offset: int) -> None:
        pending = b""
        with path.open("rb") as fh:
            fh.seek(offset)
            while not self.done.is_set():
                chunk = fh.read()
                if chunk:
                    pending = self._split(pending, chunk, self.daemon_lines)
                else:
                    time.sleep(0.002)

    def wait(self, timeout: float = 1800) -> float:
        rc = self.proc.wait(timeout=timeout)
        end = time.perf_counter() - self.started
        self.threads[0].join(10)
        if rc != 0:
            self.finish()
            raise RuntimeError(f"git push exited {rc}:\n" + "\n".join(text for _, text in self.lines[-40:]))
        return end

    def finish(self) -> None:
        self.done.set()
        self.threads[1].join(10)

    def first(self, needle: str, daemon: bool = False) -> float | None:
        return next((t for t, text in (self.daemon_lines if daemon else self.lines) if needle in text), None)


# -- the generated repository -------------------------------------------------------------------


def _object(i: int) -> dict[str, Any]:
    ns, kind = f"ns-{(i // 4) % 10}", i % 4
    if kind == 0:
        labels = {"app": f"app-{i}"}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"app-{i}", "namespace": ns},
                "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {
                    "metadata": {"labels": labels}, "spec": {"containers": [{
                        "name": "app", "image": "python:3.11", "command": ["python3", "-m", "http.server", "8080"],
                        "ports": [{"containerPort": 8080}], "env": [{"name": "INDEX", "value": str(i)}]}]}}}}
    if kind == 1:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}", "namespace": ns},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    if kind == 2:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cfg-{i}", "namespace": ns},
                "data": {f"key{j}": f"value {i}-{j}" for j in range(4)}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"sec-{i}", "namespace": ns},
            "type": "Opaque", "stringData": {"username": f"user-{i}", "password": f"pw-{i:08d}"}}


def generate(work: Path, objects: int) -> list[Path]:
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "bench@example.com")
    git(work, "config", "user.name", "Bench")
    files = []
    for n in range(10):
        path = work / f"ns-{n}" / "namespace.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{n}\n")
        files.append(path)
    for i in range(objects):
        obj = _object(i)
        path = work / obj["metadata"]["namespace"] / f"{obj['kind'].lower()}-{i}.yaml"
        path.write_text(yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False))
        files.append(path)
    commit(work, f"{objects} generated objects")
    return files


def commit(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def csafeloader_parse(files: list[Path], runs: int = 3) -> list[float]:
    contents = [p.read_bytes() for p in files]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        docs = sum(1 for data in contents for doc in yaml.load_all(data, Loader=yaml.CSafeLoader) if doc)
        samples.append(time.perf_counter() - start)
        assert docs == len(files)
    return samples


# -- in-process pipeline ------------------------------------------------------------------------


def _client(data: Path) -> Client:
    return Client(from_kubeconfig(data / "kubeconfig", user_agent="bench-gitops"))


def prepare_timed(work: Path, data: Path, cache: ParseCache | Path | None) -> tuple[float, bool, ParseCache]:
    """Seconds of one ``prepare()`` of HEAD (building the ParseCache from ``cache`` when it is a
    path is inside the timing, as in the CLI), whether the plan is in sync, and the cache used."""

    async def run() -> tuple[float, bool, ParseCache]:
        client = _client(data)
        try:
            start = time.perf_counter()
            pc = cache if isinstance(cache, ParseCache) else ParseCache(cache)
            prepared = await prepare(GitRepo(work), "HEAD", client, cache=pc)
            return time.perf_counter() - start, prepared.plan.in_sync and not prepared.problems, pc
        finally:
            await client.close()

    return uvloop.run(run())


def prepare_breakdown(work: Path, data: Path, cache_path: Path, profile: cProfile.Profile | None = None
                      ) -> dict[str, float]:
    """The steps of ``prepare()`` timed one by one, all in this thread (so cProfile sees them)."""

    async def run() -> dict[str, float]:
        client = _client(data)
        marks: dict[str, float] = {}
        try:
            if profile is not None:
                profile.enable()
            t = time.perf_counter()

            def mark(name: str) -> None:
                nonlocal t
                now = time.perf_counter()
                marks[name] = round(now - t, 4)
                t = now

            repo = GitRepo(work)
            info = repo.resolve("HEAD")
            mark("resolve_commit_s")
            cache = ParseCache(cache_path)
            mark("cache_file_read_s")
            manifests = load_desired(repo, info.sha, cache=cache)
            mark("load_manifests_s")
            cache.save()
            mark("cache_save_s")
            state = await ReleaseLog(client).state()
            mark("release_state_read_s")
            desired = [Desired(m.obj, str(m.source)) for m in manifests]
            live = await read_live(client, {m.key for m in manifests} | state.inventory)
            mark("live_read_s")
            plan = make_plan(desired, live, state.inventory if state.commit or state.inventory else None)
            mark("make_plan_s")
            if not plan.problems:
                await applier.dry_run(client, plan.changes)
            mark("server_dry_run_s")
            if profile is not None:
                profile.disable()
            marks["total_s"] = round(sum(marks.values()), 4)
            marks["live_objects"] = len(live)
            return marks
        finally:
            await client.close()

    return uvloop.run(run())


def profile_top(profile: cProfile.Profile, sort: str, n: int = 15) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(n)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [" ".join(line.split()) for line in lines[start:start + n + 1] if line.strip()]


# -- the N-object benchmark -----------------------------------------------------------------------


def api(daemon: Daemon, method: str, path: str) -> Any:
    """One call to the daemon's HTTPS API with the admin token (what ``gitkube history`` does)."""
    token = yaml.safe_load((daemon.data / "kubeconfig").read_text())["users"][0]["user"]["token"]
    ctx = ssl.create_default_context(cafile=str(daemon.data / "pki" / "ca.crt"))
    ctx.check_hostname = False
    req = urllib.request.Request(f"https://127.0.0.1:{daemon.port}{path}", method=method,
                                 headers={"Authorization": f"Bearer {token}"}, data=b"{}" if method == "POST" else None)
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def push_and_sync(work: Path, daemon: Daemon, sha: str, timeout: float = 1800, retries: int = 5) -> dict[str, Any]:
    """Push HEAD, follow the hooks' and the daemon's output until the release log says ``sha``
    Synced. Times are seconds since the push started.

    When the daemon logs ``sync step failed`` the engine leaves the release Progressing and does not
    retry by itself: the bench then asks for a sync (``POST /gitkube/v1/sync``), up to ``retries``
    times, and reports every such failure and retry.
    """
    push = Push.start(work, daemon.data / "repo.git", daemon.log_path)
    failures: list[str] = []
    try:
        push_exit = push.wait(timeout)
        deadline = time.monotonic() + timeout
        while True:
            mine = [r for r in api(daemon, "GET", "/gitkube/v1/history?limit=10") if r["commit"] == sha]
            if mine and mine[0]["outcome"] in ("Synced", "Failed", "RolledBack"):
                break
            seen = [text for _, text in push.daemon_lines if "sync step failed:" in text]  # not "…, will retry"
            if len(seen) > len(failures):
                failures += seen[len(failures):]
                if len(failures) > retries:
                    raise RuntimeError(f"{sha[:12]}: the sync failed {len(failures)} times: {failures[-1]}")
                api(daemon, "POST", "/gitkube/v1/sync")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sha[:12]} not synced after {timeout:.0f}s: {mine[:1]}")
            time.sleep(0.2)
        observed = time.perf_counter() - push.started
    finally:
        push.finish()
    done = mine[0]
    synced = push.first(f"Synced {sha[:12]}", True) or push.first(f"Synced {sha[:12]}") or observed
    return {"outcome": done["outcome"], "reason": (done.get("reason") or "")[:600], "synced_s": synced,
            "ended_s": observed, "push_exit_s": push_exit, "preflight_passed_line_s": push.first("pre-flight passed"),
            "hook_plan_line_s": push.first("Plan:"), "daemon_sync_start_s": push.first(f"syncing {sha[:12]}", True),
            "daemon_plan_event_s": push.first("Plan:", True), "daemon_synced_event_s": push.first("Synced", True),
            "hook_synced_line_s": push.first(f"Synced {sha[:12]}"), "history_duration_s": done.get("duration"),
            "engine_failures_retried": [f[:400] for f in failures], "tail": [text[:400] for _, text in push.lines[-6:]],
            "daemon_timeline": [(round(t, 2), text[:160]) for t, text in push.daemon_lines if text.startswith(_MILESTONES)]}


_MILESTONES = ("gitkube: syncing", "gitkube: wave", "gitkube: Synced", "gitkube: RolledBack", "Plan:", "gitkube: Failed")


def _rounded(values: list[float | None]) -> list[float | None]:
    return [round(v, 3) if v is not None else None for v in values]


def _diff_subprocess(work: Path, data: Path) -> tuple[float, int, str]:
    seconds, proc = gitkube("diff", "--repo", str(work), "--data-dir", str(data))
    return seconds, proc.returncode, (proc.stdout[-1500:] + proc.stderr[-1500:])


def bench_sync(tmp: Path, objects: int, result: dict[str, Any], rollout_timeout: str) -> None:
    """Fill ``result`` as the numbers come (a failure part-way keeps the ones measured)."""
    work, data = tmp / "work", tmp / "data"
    work.mkdir(parents=True)
    files = generate(work, objects)
    result.update(objects=objects + 10, files=len(files))
    parse = csafeloader_parse(files)
    result["csafeloader_parse_s"] = round(min(parse), 3)
    result["csafeloader_parse_samples_s"] = [round(s, 3) for s in parse]
    args = ["--no-local-node", "--service-cidr", "127.93.0.0/16"]
    args += ["--rollout-timeout", rollout_timeout] if rollout_timeout else []
    result["daemon_args"] = args
    daemon = start_daemon(data, args)
    try:
        proc = psutil.Process(daemon.proc.pid)
        result["daemon_rss_idle_mb"] = round(proc.memory_info().rss / 2**20, 1)
        head = git(work, "rev-parse", "HEAD")
        first = push_and_sync(work, daemon, head)
        result["initial_sync_outcome"] = first["outcome"]
        result["initial_sync_s"] = round(first["synced_s"], 2) if first["outcome"] == "Synced" else None
        result["initial_sync_manual_retries"] = len(first["engine_failures_retried"])
        result["initial_sync_detail"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in first.items()}
        result["daemon_rss_mb"] = round(proc.memory_info().rss / 2**20, 1)
        # The controllers may still be catching up (a failed sync leaves them work): measure the
        # diffs against a daemon at rest, as a user running `gitkube diff` later would.
        result["daemon_settle_s"] = settle(proc)
        result["daemon_rss_settled_mb"] = round(proc.memory_info().rss / 2**20, 1)

        cache_file = data / "cache" / "manifests.cache"
        startup, _ = gitkube("--version")
        result["cli_startup_s"] = round(startup, 3)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import uvloop, gitkube.cli, gitkube.engine.pipeline, gitkube.plan"],
                       check=True, env=ENV)
        result["cli_diff_imports_s"] = round(time.perf_counter() - start, 3)
        cold, cold_in = [], []
        for _ in range(2):
            cache_file.unlink(missing_ok=True)
            seconds, rc, out = _diff_subprocess(work, data)
            cold.append(seconds)
            if rc != 0:
                result["cold_diff_failure"] = {"exit": rc, "output_tail": out}
            seconds, in_sync, _ = prepare_timed(work, data, None)
            cold_in.append(seconds)
            result["cold_diff_inprocess_in_sync"] = in_sync
        result["cold_diff_s"] = round(min(cold), 3)
        result["cold_diff_samples_s"] = [round(s, 3) for s in cold]
        result["cold_diff_exit"] = rc
        result["cold_diff_inprocess_s"] = round(min(cold_in), 3)
        result["cold_diff_inprocess_samples_s"] = [round(s, 3) for s in cold_in]
        result["cold_over_csafeloader"] = round(min(cold) / min(parse), 2)
        result["cold_inprocess_over_csafeloader"] = round(min(cold_in) / min(parse), 2)

        _diff_subprocess(work, data)  # the cache file exists from here on
        warm, warm_in, breakdowns = [], [], []
        for _ in range(3):
            seconds, rc, out = _diff_subprocess(work, data)
            warm.append(seconds)
            if rc != 0:
                result["warm_diff_failure"] = {"exit": rc, "output_tail": out}
            seconds, in_sync, _ = prepare_timed(work, data, cache_file)
            warm_in.append(seconds)
            breakdowns.append(prepare_breakdown(work, data, cache_file))
        result["warm_diff_s"] = round(min(warm), 3)
        result["warm_diff_samples_s"] = [round(s, 3) for s in warm]
        result["warm_diff_exit"] = rc
        result["warm_diff_inprocess_s"] = round(min(warm_in), 3)
        result["warm_diff_inprocess_samples_s"] = [round(s, 3) for s in warm_in]
        result["warm_diff_inprocess_breakdown"] = min(breakdowns, key=lambda b: b["total_s"])
        profile = cProfile.Profile()
        prepare_breakdown(work, data, cache_file, profile)
        result["warm_diff_profile_tottime_top15"] = profile_top(profile, "tottime")
        result["warm_diff_profile_cumulative_top15"] = profile_top(profile, "cumulative")

        one_file_changes(work, daemon, files, cache_file, proc, result)
    finally:
        stop_daemon(daemon)
        reap_shims(data)


def settle(proc: psutil.Process, limit: float = 900.0) -> float:
    """Seconds until the daemon has used under 15% of a core for three seconds in a row."""
    start, calm = time.perf_counter(), 0
    while calm < 3 and time.perf_counter() - start < limit:
        calm = calm + 1 if proc.cpu_percent(interval=1.0) < 15 else 0
    return round(time.perf_counter() - start, 1)


def _change(files: list[Path], round_: int) -> None:
    """Change one ConfigMap file: a ``changed`` key whose value is the round."""
    path = next(p for p in files if p.name.startswith("configmap-"))
    lines = [line for line in path.read_text().splitlines() if not line.startswith("  changed:")]
    at = lines.index("data:") + 1
    path.write_text("\n".join([*lines[:at], f"  changed: round-{round_}", *lines[at:]]) + "\n")


def one_file_changes(work: Path, daemon: Daemon, files: list[Path], cache_file: Path, proc: psutil.Process,
                     out: dict[str, Any]) -> None:
    data = daemon.data
    _, _, cache = prepare_timed(work, data, cache_file)  # the warm run: its cache stays in memory
    samples = []
    for r in range(3):
        _change(files, r)
        commit(work, f"one file, round {r}")
        seconds, in_sync, cache = prepare_timed(work, data, cache)
        assert not in_sync, "a changed ConfigMap must show in the plan"
        samples.append(seconds)
        git(work, "reset", "-q", "--hard", "HEAD~1")
    out["one_file_commit_to_plan_s"] = round(statistics.median(samples), 3)
    out["one_file_commit_to_plan_samples_s"] = [round(s, 3) for s in samples]
    _change(files, 9)
    commit(work, "one file, breakdown")
    out["one_file_commit_to_plan_breakdown"] = prepare_breakdown(work, data, cache_file)
    git(work, "reset", "-q", "--hard", "HEAD~1")

    pushes = []
    for r in range(3):
        _change(files, 100 + r)
        pushes.append(push_and_sync(work, daemon, commit(work, f"one file pushed, round {r}"), timeout=600))
    out["daemon_one_file_push_outcomes"] = [p["outcome"] for p in pushes]
    for name in ("preflight_passed_line_s", "daemon_sync_start_s", "daemon_plan_event_s", "hook_plan_line_s",
                 "daemon_synced_event_s", "hook_synced_line_s", "push_exit_s", "history_duration_s"):
        out[f"daemon_one_file_push_{name}"] = _rounded([p[name] for p in pushes])
    out["daemon_one_file_push_engine_failures_retried"] = [p["engine_failures_retried"] for p in pushes]
    out["daemon_rss_end_mb"] = round(proc.memory_info().rss / 2**20, 1)


# -- commit → new pod Ready ---------------------------------------------------------------------

def web_deployment(version: str) -> str:
    container = server_container(version)
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": POD_NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}},
    }, indent=2)


def _ready_pod_with(core: Any, version: str) -> bool:
    resp = core.list_namespaced_pod(POD_NS, label_selector="app=web", _preload_content=False)
    for pod in json.loads(resp.data)["items"]:
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env") or []}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        if env.get("VERSION") == version and ready and not pod["metadata"].get("deletionTimestamp"):
            return True
    return False


def _wait(check: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(what)


def bench_pod(tmp: Path, rounds: int, result: dict[str, Any]) -> None:
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    work, data = tmp / "work", tmp / "data"
    work.mkdir(parents=True)
    daemon = start_daemon(data, ["--node-name", "bench-node", "--service-cidr", "127.92.0.0/16",
                                 "--cluster-cidr", "127.224.0.0/11"])
    try:
        api = kconfig.new_client_from_config(config_file=str(data / "kubeconfig"))  # type: ignore[no-untyped-call]
        core: Any = kclient.CoreV1Api(api)

        def node_ready() -> bool:
            with contextlib.suppress(kclient.ApiException):
                node = json.loads(core.read_node("bench-node", _preload_content=False).data)
                return any(c.get("type") == "Ready" and c.get("status") == "True"
                           for c in (node.get("status") or {}).get("conditions") or [])
            return False

        _wait(node_ready, 60, "bench-node Ready", 0.2)
        git(work, "init", "-q", "-b", "main")
        git(work, "config", "user.email", "bench@example.com")
        git(work, "config", "user.name", "Bench")
        (work / "namespace.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {POD_NS}\n")
        (work / "web.yaml").write_text(web_deployment("v0"))
        first = push_and_sync(work, daemon, commit(work, "web v0"), timeout=180)
        if first["outcome"] != "Synced":
            raise RuntimeError(f"the first deploy ended {first['outcome']}: {first['reason']}")
        _wait(lambda: _ready_pod_with(core, "v0"), 60, "v0 Ready")
        result["first_deploy_synced_s"] = round(first["synced_s"], 3)
        samples: list[float] = []
        synced: list[float | None] = []
        noticed: list[float | None] = []
        planned: list[float | None] = []
        for r in range(1, rounds + 1):
            version = f"v{r}"
            (work / "web.yaml").write_text(web_deployment(version))
            sha = commit(work, f"web {version}")
            push = Push.start(work, data / "repo.git", daemon.log_path)
            try:
                _wait(lambda v=version: _ready_pod_with(core, v), 120, f"{version} Ready")
                samples.append(time.perf_counter() - push.started)
                push.wait(300)
            finally:
                push.finish()
            synced.append(push.first(f"Synced {sha[:12]}"))
            noticed.append(push.first(f"syncing {sha[:12]}", True))
            planned.append(push.first("Plan:", True))
            result.update(rounds=r, commit_to_pod_ready_samples_s=[round(s, 3) for s in samples])
        result.update(commit_to_pod_ready_p50_s=round(statistics.median(samples), 3),
                      commit_to_pod_ready_max_s=round(max(samples), 3),
                      push_to_synced_line_s=_rounded(synced), push_to_daemon_sync_start_s=_rounded(noticed),
                      push_to_daemon_plan_event_s=_rounded(planned))
    finally:
        stop_daemon(daemon)
        reap_shims(data)


# -- main ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def section(result: dict[str, Any]) -> Iterator[None]:
    """Record a section's failure in its JSON instead of losing the numbers already measured."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what broke and goes on
        result["error"] = f"{type(exc).__name__}: {exc}"[:3000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["", "sync", "pod"], default="")
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rollout-timeout", default="", help="passed to the sync daemon [default: its own, 120s]")
    args = parser.parse_args()
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    started = time.perf_counter()
    dirty = git(ROOT, "status", "--porcelain", "--", "gitkube").splitlines()
    result["code"] = {"head": git(ROOT, "rev-parse", "--short", "HEAD"), "uncommitted": [line.split(maxsplit=1)[-1] for line in dirty]}
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as tmp:
        if args.only in ("", "sync"):
            result["sync"] = {}
            with section(result["sync"]):
                bench_sync(Path(tmp) / "sync", args.objects, result["sync"], args.rollout_timeout)
        if args.only in ("", "pod"):
            result["pod"] = {}
            with section(result["pod"]):
                bench_pod(Path(tmp) / "pod", args.rounds, result["pod"])
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["goals"] = {"cold_over_csafeloader": 1.5, "warm_diff_s": 0.5, "one_file_commit_to_plan_s": 0.1,
                       "commit_to_pod_ready_p50_s": 1.0, "daemon_rss_mb": 250}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
