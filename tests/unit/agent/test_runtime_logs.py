"""CRI log writer: record format, partial lines, rotation; the shim's exit status wording."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path

from gitkube.agent.runtime_logs import CRILogWriter, rfc3339, rfc3339nano
from gitkube.agent.shim import copy_stream, exit_status


def test_timestamps() -> None:
    assert rfc3339nano(1_700_000_000_000_000_123) == "2023-11-14T22:13:20.000000123Z"
    assert rfc3339(1_700_000_000.9) == "2023-11-14T22:13:20Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", rfc3339nano())


def test_copy_stream_splits_long_lines_and_keeps_empty_ones(tmp_path: Path) -> None:
    writer = CRILogWriter(tmp_path / "0.log", max_line=4)
    copy_stream(io.BufferedReader(io.BytesIO(b"abcdefghij\n\nxy\ntail")), "stderr", writer)
    writer.close()
    lines = [line.split(" ", 1)[1] for line in (tmp_path / "0.log").read_text().splitlines()]
    assert lines == ["stderr P abcd", "stderr P efgh", "stderr F ij", "stderr F ", "stderr F xy", "stderr F tail"]


def test_rotation_at_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "app" / "0.log"
    writer = CRILogWriter(path, max_bytes=200)
    for i in range(10):
        writer.write_line("stdout", f"line {i}\n".encode())
    writer.close()
    rotated, current = path.with_name("0.log.1"), path
    assert rotated.exists() and current.stat().st_size <= 200 and rotated.stat().st_size <= 200
    texts = [line.rsplit(" ", 2)[-2] + " " + line.rsplit(" ", 1)[-1]
             for line in rotated.read_text().splitlines() + current.read_text().splitlines()]
    assert texts[-1] == "line 9"
    assert "line 0" not in current.read_text()


def test_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    for text in (b"one", b"two"):
        writer = CRILogWriter(path)
        writer.write_line("stdout", text)
        writer.close()
    assert [line.split(" ", 3)[3] for line in path.read_text().splitlines()] == ["one", "two"]


def test_exit_status_wording() -> None:
    assert exit_status(0, sandboxed=False, oom_kills=0, started_at="s").reason == "Completed"
    err = exit_status(2, sandboxed=False, oom_kills=0, started_at="s")
    assert (err.exit_code, err.reason, err.signal, err.started_at) == (2, "Error", None, "s")
    killed = exit_status(-signal.SIGTERM, sandboxed=False, oom_kills=0, started_at="s")
    assert (killed.exit_code, killed.signal) == (143, signal.SIGTERM)
    sandboxed = exit_status(137, sandboxed=True, oom_kills=0, started_at="s")
    assert (sandboxed.exit_code, sandboxed.signal) == (137, signal.SIGKILL)
    assert exit_status(137, sandboxed=False, oom_kills=0, started_at="s").signal is None
    oom = exit_status(-signal.SIGKILL, sandboxed=False, oom_kills=1, started_at="s")
    assert (oom.exit_code, oom.reason) == (137, "OOMKilled")
    assert exit_status(0, sandboxed=False, oom_kills=1, started_at="s").reason == "Completed"
