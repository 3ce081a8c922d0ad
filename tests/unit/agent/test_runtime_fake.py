"""The test kit's FakeRuntime behaves like the real runtimes where pod workers can tell."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gitkube import errors
from gitkube.testing.runtime import FakeBehaviour, FakeRuntime, as_runtime, container_spec


async def test_scripted_exit_and_logs(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    runtime.behave("app", FakeBehaviour(exit_code=2, after=0.01, logs=("hello",), stderr_logs=("bad",)))
    spec = container_spec(tmp_path, ["server"])
    container = await as_runtime(runtime).start(spec)
    status = await asyncio.wait_for(container.wait(), 5)
    assert (status.exit_code, status.reason) == (2, "Error")
    assert [line.split(" ", 1)[1] for line in spec.log_path.read_text().splitlines()] == [
        "stdout F hello", "stderr F bad"]
    assert await runtime.last_exit(spec) == status
    assert runtime.started == [spec]


async def test_stop_sigterm_and_ignored_sigterm(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    polite = await runtime.start(container_spec(tmp_path, ["a"], name="polite"))
    assert (await polite.stop(30)).exit_code == 143
    runtime.behave("stubborn", FakeBehaviour(ignore_sigterm=True))
    stubborn = await runtime.start(container_spec(tmp_path, ["b"], name="stubborn"))
    status = await stubborn.stop(0.01)
    assert (status.exit_code, status.signal) == (137, 9)


async def test_cannot_run_exec_and_adopt(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    runtime.cannot_run["nosuchcmd"] = 'exec: "nosuchcmd": executable file not found in $PATH'
    with pytest.raises(errors.RuntimeFailure) as info:
        await runtime.start(container_spec(tmp_path, ["nosuchcmd"]))
    assert info.value.reason == "ContainerCannotRun"
    runtime.behave("app", FakeBehaviour(exec_results={"check": (1, b"unhealthy")}))
    spec = container_spec(tmp_path, ["server"])
    container = await runtime.start(spec)
    assert await container.exec(["check"], 1) == (1, b"unhealthy")
    assert await container.exec(["other"], 1) == (0, b"")
    assert await runtime.adopt(spec.pod_dir) == [container]
    container.finish(0)
    assert await runtime.adopt(spec.pod_dir) == []
    assert (await container.wait()).reason == "Completed"
