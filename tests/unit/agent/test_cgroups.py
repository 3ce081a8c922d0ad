"""Per-container cgroups: detection, limits written, OOM kills detected, cleanup."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from gitkube.agent.cgroups import Cgroup, CgroupManager
from gitkube.agent.runtime import BubblewrapRuntime, ProcessRuntime, bwrap_works
from gitkube.agent.runtime_api import Limits
from gitkube.testing.runtime import container_spec

MANAGER = CgroupManager()
needs_cgroups = pytest.mark.skipif(not MANAGER.available, reason=f"cgroups are not writable here: {MANAGER.reason}")


def test_fake_v2_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.procs").write_text("")
    (tmp_path / "gitkube").mkdir()  # as the kernel would, list what the root enabled for its children
    (tmp_path / "gitkube" / "cgroup.controllers").write_text("cpu memory pids\n")
    manager = CgroupManager(root=tmp_path)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert manager.version == 2 and manager.available
    parent = manager.parents["unified"]
    assert parent == tmp_path / "gitkube"
    assert (parent / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    group = manager.create("pod_app_0", Limits(memory_bytes=64 << 20, cpu_millis=250, pids=50))
    directory = parent / "pod_app_0"
    assert (directory / "memory.max").read_text() == str(64 << 20)
    assert group.oom_kills() == 0
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1
    assert Cgroup.from_json(group.to_json()) == group


def test_fake_v2_without_memory_controller_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    (tmp_path / "gitkube").mkdir()
    (tmp_path / "gitkube" / "cgroup.controllers").write_text("cpu pids\n")
    manager = CgroupManager(root=tmp_path)
    assert not manager.available and "memory" in manager.reason


def test_unwritable_cgroups_are_reported(tmp_path: Path) -> None:
    manager = CgroupManager(root=tmp_path / "missing")
    assert manager.version == 1 and not manager.available
    runtime = ProcessRuntime(tmp_path / "data", cgroups=manager)
    assert runtime.limits_enforced is False
    assert runtime.limits_message.startswith("container resource limits are not enforced: ")


@needs_cgroups
def test_real_cgroup_limits_are_written_and_removed() -> None:
    group = MANAGER.create("gitkube-test-limits", Limits(memory_bytes=48 << 20, cpu_millis=500, pids=64))
    try:
        paths = dict(group.paths)
        if MANAGER.version == 1:
            assert int((Path(paths["memory"]) / "memory.limit_in_bytes").read_text()) == 48 << 20
            if "cpu" in paths:
                assert (Path(paths["cpu"]) / "cpu.cfs_quota_us").read_text().strip() == "50000"
                assert (Path(paths["cpu"]) / "cpu.cfs_period_us").read_text().strip() == "100000"
            if "pids" in paths:
                assert (Path(paths["pids"]) / "pids.max").read_text().strip() == "64"
        else:
            unified = Path(paths["unified"])
            assert int((unified / "memory.max").read_text()) == 48 << 20
            assert (unified / "cpu.max").read_text().split() == ["50000", "100000"]
        assert group.pids() == [] and group.oom_kills() == 0
    finally:
        group.remove()
    assert all(not Path(p).exists() for _c, p in group.paths)


@needs_cgroups
@pytest.mark.parametrize("kind", ["bubblewrap", "process"])
async def test_memory_hog_is_oom_killed(kind: str, tmp_path: Path) -> None:
    if kind == "bubblewrap" and not bwrap_works(Path("/nonexistent")):
        pytest.skip("bwrap is not usable here")
    data = tmp_path / "data"
    runtime = BubblewrapRuntime(data) if kind == "bubblewrap" else ProcessRuntime(data)
    assert runtime.limits_enforced
    spec = container_spec(data, ["python3", "-c", textwrap.dedent("""
        chunks = []
        print("allocating", flush=True)
        for _ in range(100):
            chunks.append(bytearray(8 * 1024 * 1024))
        print("survived", flush=True)
    """)], limits=Limits(memory_bytes=64 << 20))
    container = await runtime.start(spec)
    status = await asyncio.wait_for(container.wait(), 30)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")
    assert "survived" not in spec.log_path.read_text()
    await asyncio.sleep(0.1)
    assert runtime.cgroups.parents
    leftover = [p for parent in runtime.cgroups.parents.values() for p in parent.glob(f"{spec.pod_uid}_*")]
    assert leftover == []


@needs_cgroups
async def test_within_limit_is_not_oom_killed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = container_spec(data, ["python3", "-c", "x = bytearray(8 << 20); print(len(x))"],
                          limits=Limits(memory_bytes=128 << 20, cpu_millis=200, pids=32))
    status = await asyncio.wait_for((await ProcessRuntime(data).start(spec)).wait(), 30)
    assert (status.exit_code, status.reason) == (0, "Completed")


@needs_cgroups
async def test_pids_limit_stops_fork_bombs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = container_spec(data, ["python3", "-c", textwrap.dedent("""
        import os, time
        started = 0
        try:
            for _ in range(40):
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                started += 1
        except OSError as exc:
            print("fork failed", exc.errno, flush=True)
        print("started", started, flush=True)
        os._exit(0)
    """)], limits=Limits(pids=10))
    status = await asyncio.wait_for((await ProcessRuntime(data).start(spec)).wait(), 30)
    text = spec.log_path.read_text()
    if "pids" not in dict(MANAGER.parents) and MANAGER.version == 1:
        pytest.skip("no writable pids cgroup here")
    assert status.exit_code == 0 and "fork failed" in text and "started 40" not in text
