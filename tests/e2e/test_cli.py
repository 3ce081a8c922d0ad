"""Issue 7 end to end, the terminal: every read command's ``-o json`` and ``-o yaml`` parse and carry
their keys against a real daemon; ``gitkube rollback`` under a real terminal draws the live view
and ends with the outcome line; with the daemon gone, a command is one error line with a hint.

One daemon without a node (ConfigMaps only: healthy as soon as they are written), two pushes.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.e2e

DAEMON_ARGS = ["--no-local-node", "--rollout-timeout", "30s",
               "--service-cidr", "127.75.0.0/16", "--cluster-cidr", "127.120.0.0/14"]
NS = "clitest"


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def gitkube(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitkube", *args], capture_output=True, text=True, timeout=90)


def config_map(color: str) -> str:
    return (f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n---\n"
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {NS}\n"
            f"data:\n  color: {color}\n")


@dataclass
class Env:
    daemon: Daemon
    work: Path
    commits: list[str]

    @property
    def data(self) -> str:
        return str(self.daemon.data_dir)

    def push(self, color: str) -> subprocess.CompletedProcess[str]:
        (self.work / "app.yaml").write_text(config_map(color))
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"colour {color}")
        self.commits.append(git(self.work, "rev-parse", "HEAD").stdout.strip())
        return git(self.work, "push", str(self.daemon.data_dir / "repo.git"), "HEAD:main")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    daemon = start_daemon(tmp_path_factory.mktemp("cli") / "data", extra_args=DAEMON_ARGS)
    work = tmp_path_factory.mktemp("work")
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "dev@example.com")
    git(work, "config", "user.name", "Dev")
    e = Env(daemon, work, [])
    try:
        push = e.push("blue")
        assert f"Synced {e.commits[0][:12]}" in push.stderr, push.stderr
        push = e.push("green")
        assert f"Synced {e.commits[1][:12]}" in push.stderr, push.stderr
        yield e
    finally:
        stop_daemon(daemon)


def parsed(output: str, text: str) -> object:
    return json.loads(text) if output == "json" else yaml.safe_load(text)


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_every_read_command_parses(env: Env, output: str) -> None:
    status = gitkube("status", "--data-dir", env.data, "-o", output)
    assert status.returncode == 0, status.stderr
    doc = parsed(output, status.stdout)
    assert isinstance(doc, dict)
    assert {"source", "branch", "commit", "healthy", "held", "syncState", "message", "health"} <= set(doc), doc
    assert doc["syncState"] == "Synced" and doc["commit"] == env.commits[-1]
    assert {"object": f"ConfigMap {NS}/settings", "status": "Healthy"}.items() <= next(
        h for h in doc["health"] if h["object"] == f"ConfigMap {NS}/settings").items()

    history = gitkube("history", "--data-dir", env.data, "-o", output)
    assert history.returncode == 0, history.stderr
    rows = parsed(output, history.stdout)
    assert isinstance(rows, list) and len(rows) >= 2
    assert {"number", "commit", "author", "message", "outcome", "started", "duration", "counts"} <= set(rows[0])
    assert [r["commit"] for r in rows[:2]] == env.commits[::-1][:2] and rows[0]["outcome"] == "Synced"

    diff = gitkube("diff", "--repo", str(env.work), "--data-dir", env.data, "-o", output)
    plan = parsed(output, diff.stdout)
    assert isinstance(plan, dict) and {"commit", "inSync", "problems", "plan", "capacity"} <= set(plan), plan
    assert plan["commit"] == env.commits[-1] and plan["problems"] == []
    assert diff.returncode == (0 if plan["inSync"] else 1), diff.stderr


def read_pty(fd: int, deadline: float) -> bytes:
    out = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return out
        if not chunk:
            return out
        out += chunk
    raise AssertionError(f"no end of output before the deadline: {out[-2000:]!r}")


def test_rollback_on_a_terminal_draws_the_live_view(env: Env) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gitkube", "rollback", env.commits[0], "--data-dir", env.data],
                            stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True,
                            env={**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"})
    os.close(terminal)
    try:
        raw = read_pty(controller, time.monotonic() + 60)
    finally:
        os.close(controller)
        code = proc.wait(timeout=30)
    text = raw.decode(errors="replace")
    assert code == 0, text
    assert "\x1b[" in text  # drawn with colours and cursor moves, not plain lines
    assert "wave 1/1" in text and "Healthy" in text, text
    last = [line for line in text.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert f"Synced {env.commits[0][:12]}" in last, text
    status = json.loads(gitkube("status", "--data-dir", env.data, "-o", "json").stdout)
    assert status["commit"] == env.commits[0] and status["held"] == env.commits[0]


def test_rollback_piped_prints_the_plain_lines(env: Env) -> None:
    back = gitkube("rollback", env.commits[1], "--data-dir", env.data)
    assert back.returncode == 0, back.stderr
    lines = back.stdout.splitlines()
    assert lines[0].startswith(f"syncing {env.commits[1][:12]}") and lines[-1] == f"Synced {env.commits[1][:12]}"
    assert "wave 1/1: 1 object(s)" in lines and "\x1b[" not in back.stdout


def test_no_daemon_is_one_line_with_a_hint(env: Env) -> None:
    stop_daemon(env.daemon)
    for args in (["status"], ["history", "-o", "json"], ["rollback"]):
        proc = gitkube(*args, "--data-dir", env.data)
        assert proc.returncode == 3, proc
        assert proc.stdout == "" and "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot reach the API server"), proc.stderr
        assert "hint: is `gitkube up` running?" in lines[0]
