"""Both runtimes with real processes: logs, exit codes, signals, errors, stop, exec, adoption."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from gitkube import errors
from gitkube.agent.runtime import BubblewrapRuntime, ProcessRuntime, bwrap_works, detect_runtime
from gitkube.agent.runtime_api import ContainerProcess, ContainerSpec, Runtime
from gitkube.testing.runtime import container_spec

CRI_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$")
BWRAP = bwrap_works(Path("/nonexistent-gitkube-data"))


@pytest.fixture(params=["bubblewrap", "process"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> BubblewrapRuntime | ProcessRuntime:
    if request.param == "bubblewrap":
        if not BWRAP:
            pytest.skip("bwrap is not installed or cannot create sandboxes here")
        return BubblewrapRuntime(tmp_path / "data")
    return ProcessRuntime(tmp_path / "data")


def py(tmp_path: Path, code: str, **fields: object) -> ContainerSpec:
    return container_spec(tmp_path / "data", ["python3", "-c", textwrap.dedent(code)], **fields)  # type: ignore[arg-type]


def records(spec: ContainerSpec) -> list[tuple[str, str, str]]:
    out = []
    for line in spec.log_path.read_text().splitlines():
        match = CRI_LINE.match(line)
        assert match, f"not a CRI log line: {line!r}"
        out.append((match.group(2), match.group(3), match.group(4)))
    return out


async def wait_for_log(spec: ContainerSpec, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if spec.log_path.exists() and text in spec.log_path.read_text():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {spec.log_path}")


async def test_detect_runtime_picks_bubblewrap_when_it_works(tmp_path: Path) -> None:
    assert detect_runtime(tmp_path).name == ("bubblewrap" if BWRAP else "process")


async def test_exit_code_and_cri_logs_with_stderr(runtime: Runtime, tmp_path: Path) -> None:
    spec = py(tmp_path, """
        import sys
        print("hello world", flush=True)
        print("oops", file=sys.stderr, flush=True)
        sys.exit(3)
    """)
    container = await runtime.start(spec)
    assert container.pid > 0 and container.started_at.endswith("Z")
    status = await asyncio.wait_for(container.wait(), 20)
    assert (status.exit_code, status.reason, status.signal) == (3, "Error", None)
    assert status.started_at and status.finished_at >= status.started_at
    assert sorted(records(spec)) == [("stderr", "F", "oops"), ("stdout", "F", "hello world")]
    assert not container.running()
    assert await runtime.last_exit(spec) == status


async def test_completed_and_long_line_split_into_partials(runtime: Runtime, tmp_path: Path) -> None:
    spec = py(tmp_path, """
        import sys
        sys.stdout.write("x" * 40000 + "\\nshort\\n")
        sys.stdout.write("no newline at the end")
    """)
    status = await asyncio.wait_for((await runtime.start(spec)).wait(), 20)
    assert (status.exit_code, status.reason) == (0, "Completed")
    recs = records(spec)
    assert [(s, t, len(x)) for s, t, x in recs[:3]] == [
        ("stdout", "P", 16384), ("stdout", "P", 16384), ("stdout", "F", 40000 - 2 * 16384)]
    assert "".join(x for _s, _t, x in recs[:3]) == "x" * 40000
    assert recs[3:] == [("stdout", "F", "short"), ("stdout", "F", "no newline at the end")]


async def test_killed_by_signal(runtime: Runtime, tmp_path: Path) -> None:
    spec = py(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    status = await asyncio.wait_for((await runtime.start(spec)).wait(), 20)
    assert (status.exit_code, status.reason, status.signal) == (137, "Error", signal.SIGKILL)


async def test_command_not_found_fails_start(runtime: Runtime, tmp_path: Path) -> None:
    spec = container_spec(tmp_path / "data", ["nosuchcmd", "--flag"])
    with pytest.raises(errors.RuntimeFailure) as info:
        await runtime.start(spec)
    assert info.value.reason == "ContainerCannotRun"
    assert info.value.message == 'exec: "nosuchcmd": executable file not found in $PATH'
    with pytest.raises(errors.RuntimeFailure, match=r'exec: "/no/such/bin": stat /no/such/bin: no such file'):
        await runtime.start(container_spec(tmp_path / "data", ["/no/such/bin"]))
    with pytest.raises(errors.RuntimeFailure, match=r'exec: "/etc/passwd": permission denied'):
        await runtime.start(container_spec(tmp_path / "data", ["/etc/passwd"]))
    assert await runtime.last_exit(spec) is None


async def test_missing_working_dir_fails_start(runtime: Runtime, tmp_path: Path) -> None:
    spec = container_spec(tmp_path / "data", ["true"], working_dir="/usr/no/such/dir")
    with pytest.raises(errors.RuntimeFailure, match=r'chdir to cwd \("/usr/no/such/dir"\)') as info:
        await runtime.start(spec)
    assert info.value.reason == "ContainerCannotRun"


async def test_working_dir_and_env(runtime: Runtime, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    spec = py(tmp_path, "import os; print(os.getcwd(), os.environ['GREETING'], 'HOME' in os.environ)",
              working_dir="/usr/lib" if runtime.name == "bubblewrap" else str(work),
              env=(("PATH", container_spec(tmp_path, ["x"]).env[0][1]), ("GREETING", "hi there")))
    assert (await asyncio.wait_for((await runtime.start(spec)).wait(), 20)).exit_code == 0
    expected = "/usr/lib" if runtime.name == "bubblewrap" else str(work)
    assert records(spec) == [("stdout", "F", f"{expected} hi there False")]


async def test_stop_kills_a_tree_that_ignores_sigterm(runtime: Runtime, tmp_path: Path) -> None:
    spec = py(tmp_path, """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        time.sleep(0.3)
        print("ready", flush=True)
        time.sleep(600)
    """)
    container = await runtime.start(spec)
    await wait_for_log(spec, "ready")
    tree = [container.pid, *(p.pid for p in psutil.Process(container.pid).children(recursive=True))]
    assert len(tree) >= 2
    began = time.monotonic()
    status = await asyncio.wait_for(container.stop(0.5), 20)
    assert time.monotonic() - began >= 0.5
    assert (status.exit_code, status.reason) == (137, "Error")
    await asyncio.sleep(0.2)
    alive = [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []


async def test_stop_lets_a_graceful_process_finish(runtime: Runtime, tmp_path: Path) -> None:
    spec = py(tmp_path, """
        import signal, sys, time
        def bye(*_):
            print("got SIGTERM", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(600)
    """)
    container = await runtime.start(spec)
    await wait_for_log(spec, "ready")
    status = await asyncio.wait_for(container.stop(10), 20)
    assert (status.exit_code, status.reason) == (0, "Completed")
    assert ("stdout", "F", "got SIGTERM") in records(spec)


async def test_exec_and_usage(runtime: Runtime, tmp_path: Path) -> None:
    spec = py(tmp_path, """
        import time
        data = bytearray(30 * 1024 * 1024)
        open("/tmp/marker", "w").write("from the container")
        print("ready", flush=True)
        time.sleep(600)
    """, env=(("PATH", container_spec(tmp_path, ["x"]).env[0][1]), ("FOO", "bar")))
    container = await runtime.start(spec)
    try:
        await wait_for_log(spec, "ready")
        code, output = await container.exec(["sh", "-c", "echo $FOO; cat /tmp/marker; exit 4"], timeout=10)
        assert code == 4
        assert output.decode().splitlines() == ["bar", "from the container"]
        with pytest.raises(TimeoutError):
            await container.exec(["sleep", "30"], timeout=0.3)
        cpu_ns, rss = container.usage()
        assert rss > 30 * 1024 * 1024 and cpu_ns > 0
    finally:
        await container.stop(0)
    with pytest.raises(errors.RuntimeFailure):
        await container.exec(["true"], timeout=5)


async def test_adopt_after_runtime_is_dropped(runtime: BubblewrapRuntime | ProcessRuntime, tmp_path: Path) -> None:
    spec = py(tmp_path, """
        import time
        print("ready", flush=True)
        time.sleep(1.0)
        raise SystemExit(7)
    """)
    first = await runtime.start(spec)
    pid = first.pid
    del first
    await wait_for_log(spec, "ready")
    runtime_b = type(runtime)(tmp_path / "data")
    adopted = await runtime_b.adopt(spec.pod_dir)
    assert [(c.spec, c.pid, c.running()) for c in adopted] == [(spec, pid, True)]
    assert adopted[0].sandboxed == (runtime.name == "bubblewrap")
    status = await asyncio.wait_for(adopted[0].wait(), 20)
    assert (status.exit_code, status.reason) == (7, "Error")
    assert await runtime_b.adopt(spec.pod_dir) == []
    assert await runtime_b.last_exit(spec) == status


AGENT = """
import asyncio, json, sys
from pathlib import Path
from gitkube.agent.runtime import BubblewrapRuntime, ProcessRuntime
from gitkube.testing.runtime import container_spec

async def main():
    cls = BubblewrapRuntime if sys.argv[1] == "bubblewrap" else ProcessRuntime
    spec = container_spec(Path(sys.argv[2]), ["python3", "-c",
        "import time; print('up', flush=True); time.sleep(1.5); raise SystemExit(5)"], pod_uid="u1")
    c = await cls(Path(sys.argv[2])).start(spec)
    print(json.dumps({"pid": c.pid, "pod_dir": str(spec.pod_dir)}), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_containers_survive_kill_9_of_the_agent(runtime: Runtime, tmp_path: Path) -> None:
    agent = subprocess.Popen([sys.executable, "-c", AGENT, runtime.name, str(tmp_path / "data")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(agent.stdout.readline), 30)
    finally:
        agent.kill()
        agent.wait()
    info = json.loads(line)
    adopted: list[ContainerProcess] = await runtime.adopt(Path(info["pod_dir"]))
    assert [c.pid for c in adopted] == [info["pid"]]
    status = await asyncio.wait_for(adopted[0].wait(), 20)
    assert status.exit_code == 5
