"""Per-container cgroups: memory, CPU and pids limits and OOM-kill detection.

The runtime (``gitkube.agent.runtime``) asks :class:`CgroupManager` for one cgroup per container
attempt under a ``gitkube`` parent; the shim (``gitkube.agent.shim``) puts the container's first
process into it before exec, reads whether the kernel OOM-killed something in it when the
container ends, kills what is left and removes it.

Both layouts are supported: the unified cgroup v2 hierarchy (``/sys/fs/cgroup/cgroup.controllers``;
``memory.max``, ``cpu.max``, ``pids.max``, ``memory.events``) and cgroup v1 with one hierarchy
per controller (``/sys/fs/cgroup/<controller>/``; ``memory.limit_in_bytes``,
``cpu.cfs_quota_us``/``cpu.cfs_period_us``, ``pids.max``, ``memory.oom_control``). The parent is
created below the agent's own cgroup when possible (so outer limits still apply), else at the
hierarchy root. When nothing is writable the manager reports ``available = False`` and
containers run without limits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitkube.agent.runtime_api import Limits

__all__ = ["CFS_PERIOD_US", "Cgroup", "CgroupManager"]

CFS_PERIOD_US = 100_000
MIN_CFS_QUOTA_US = 1_000
_V1_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class Cgroup:
    """One container's cgroup: a directory per controller (v1) or one directory (v2)."""

    version: int
    paths: tuple[tuple[str, str], ...]  # (controller or "unified", directory)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "paths": [list(p) for p in self.paths]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cgroup:
        return cls(version=int(data["version"]), paths=tuple((str(c), str(p)) for c, p in data["paths"]))

    def _dirs(self) -> list[Path]:
        return [Path(p) for _c, p in self.paths]

    def _dir(self, controller: str) -> Path | None:
        for name, path in self.paths:
            if name == controller or name == "unified":
                return Path(path)
        return None

    def add(self, pid: int) -> None:
        """Move ``pid`` into every hierarchy of this cgroup (the shim calls it in the child)."""
        for directory in self._dirs():
            (directory / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self._dirs():
            with contextlib.suppress(OSError):
                found.update(int(x) for x in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        memory = self._dir("memory")
        if memory is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (memory / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self, timeout: float = 5.0) -> None:
        """SIGKILL whatever is left inside and remove the directories."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            removed = True
            for directory in self._dirs():
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    removed = False
            if removed or time.monotonic() > deadline:
                return
            time.sleep(0.05)


def _own_cgroup_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    result: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return result
    for line in lines:
        _hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        for controller in controllers.split(",") if controllers else [""]:
            result[controller] = path
    return result


class CgroupManager:
    """Finds a writable ``gitkube`` parent cgroup and creates per-container cgroups under it."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), parent_name: str = "gitkube") -> None:
        self.root = root
        self.version = 2 if (root / "cgroup.controllers").exists() else 1
        self.parents: dict[str, Path] = {}
        self.reason = ""
        try:
            self._find_parents(parent_name)
        except OSError as exc:
            self.parents = {}
            self.reason = f"cgroups are not writable: {exc}"

    @property
    def available(self) -> bool:
        return bool(self.parents)

    def _find_parents(self, parent_name: str) -> None:
        own = _own_cgroup_paths()
        if self.version == 2:
            base = self.root
            candidates = [base / own.get("", "/").lstrip("/") / parent_name, base / parent_name]
            for candidate in dict.fromkeys(candidates):
                if self._prepare_v2(candidate):
                    self.parents["unified"] = candidate
                    return
            self.reason = f"cannot create a cgroup with memory, cpu and pids controllers under {base}"
            return
        for controller in _V1_CONTROLLERS:
            base = self.root / controller
            if not (base / "cgroup.procs").exists():
                continue
            candidates = [base / own.get(controller, "/").lstrip("/") / parent_name, base / parent_name]
            for candidate in dict.fromkeys(candidates):
                try:
                    candidate.mkdir(parents=True, exist_ok=True)
                except OSError:
                    continue
                if os.access(candidate, os.W_OK):
                    self.parents[controller] = candidate
                    break
        if "memory" not in self.parents:
            self.reason = f"the memory cgroup under {self.root / 'memory'} is not writable"
            self.parents = {}

    def _prepare_v2(self, parent: Path) -> bool:
        wanted = {"memory", "cpu", "pids"}
        with contextlib.suppress(OSError):  # let the parent's children use the controllers
            (parent.parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted)))
        try:
            parent.mkdir(parents=True, exist_ok=True)
            available = set((parent / "cgroup.controllers").read_text().split())
            if "memory" not in available:
                return False
            enable = " ".join(f"+{c}" for c in sorted(wanted & available))
            (parent / "cgroup.subtree_control").write_text(enable)
            return True
        except OSError:
            return False

    def create(self, name: str, limits: Limits) -> Cgroup:
        """Create the cgroup ``name`` under the gitkube parent and write ``limits`` into it."""
        paths: list[tuple[str, str]] = []
        for controller, parent in self.parents.items():
            directory = parent / name
            directory.mkdir(exist_ok=True)
            paths.append((controller, str(directory)))
        group = Cgroup(version=self.version, paths=tuple(paths))
        try:
            self._apply(group, limits)
        except OSError:
            group.remove()
            raise
        return group

    def _apply(self, group: Cgroup, limits: Limits) -> None:
        memory, cpu, pids = group._dir("memory"), group._dir("cpu"), group._dir("pids")
        quota = None
        if limits.cpu_millis is not None:
            quota = max(MIN_CFS_QUOTA_US, limits.cpu_millis * CFS_PERIOD_US // 1000)
        if self.version == 2:
            assert memory is not None
            if limits.memory_bytes is not None:
                (memory / "memory.max").write_text(str(limits.memory_bytes))
                with contextlib.suppress(OSError):
                    (memory / "memory.swap.max").write_text("0")
            if quota is not None and (memory / "cpu.max").exists():
                (memory / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
            if limits.pids is not None and (memory / "pids.max").exists():
                (memory / "pids.max").write_text(str(limits.pids))
            return
        if limits.memory_bytes is not None and memory is not None:
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
        if quota is not None and cpu is not None:
            (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(str(quota))
        if limits.pids is not None and pids is not None:
            (pids / "pids.max").write_text(str(limits.pids))
