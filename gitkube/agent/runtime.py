"""The container runtimes: a bubblewrap sandbox, or plain processes when bwrap is unusable.

The node agent calls :func:`detect_runtime` once at startup and hands the result to its pod
workers, which call ``start`` / ``adopt`` / ``last_exit`` (``gitkube.agent.runtime_api``).
Each container attempt runs under its own shim (``gitkube.agent.shim``) that outlives the
agent; the runtime writes the attempt's ``state.json``, starts the shim in a new session and
waits until the shim reports the container's pid (or that it could not run). This is the only
module that spawns pod processes (layering rule R8).

``limits_enforced`` tells whether per-container cgroups (memory, CPU, pids limits and OOM-kill
detection) are in use; when False, ``limits_message`` says why, and the pod worker records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent import sandbox
from gitkube.agent.cgroups import Cgroup, CgroupManager
from gitkube.agent.runtime_api import ContainerProcess, ContainerSpec, ExitStatus, Runtime
from gitkube.agent.runtime_container import ShimContainer, lost_status
from gitkube.agent.runtime_state import (
    AttemptFiles,
    exit_from_json,
    process_alive,
    read_json,
    spec_from_json,
    spec_to_json,
    write_json_atomic,
)

__all__ = ["BubblewrapRuntime", "ProcessRuntime", "bwrap_works", "detect_runtime"]

START_TIMEOUT = 15.0


def _cgroup_name(spec: ContainerSpec) -> str:
    return f"{spec.pod_uid}_{spec.name}_{spec.attempt}"


class _ShimRuntime:
    """What both runtimes share: state files, cgroups, the shim, adoption."""

    name = "process"
    sandboxes = False

    def __init__(self, data_dir: Path, *, cgroups: CgroupManager | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.cgroups = cgroups if cgroups is not None else CgroupManager()
        self.limits_enforced = self.cgroups.available
        self.limits_message = "" if self.limits_enforced else (
            f"container resource limits are not enforced: {self.cgroups.reason}")

    def _prepare(self, spec: ContainerSpec, sandboxed: bool) -> dict[str, Any]:
        """The command line and process settings the shim uses; raises ContainerCannotRun."""
        if sandboxed:
            view = sandbox.sandbox_view(spec, self.data_dir)
            for mount in spec.mounts:
                if not mount.host_path.exists():
                    raise errors.RuntimeFailure(
                        f'error mounting "{mount.host_path}" to rootfs at "{mount.container_path}": '
                        "no such file or directory", reason="ContainerCannotRun")
            sandbox.check_working_dir(spec, view)
            command = sandbox.resolve_command(spec, view)
            argv = sandbox.bwrap_argv(spec, view, [command, *spec.argv[1:]])
            return {"command": argv, "env": {"PATH": sandbox.DEFAULT_PATH}, "cwd": "/",
                    "user": None, "group": None}
        sandbox.check_working_dir(spec, None)
        command = sandbox.resolve_command(spec, None)
        user = spec.run_as_user
        group = spec.run_as_group if spec.run_as_group is not None else user
        if os.geteuid() != 0 and user in (None, os.geteuid()) and group in (None, os.getegid()):
            user = group = None  # already that user and group; setgroups would need root
        return {"command": [command, *spec.argv[1:]], "env": dict(spec.env), "cwd": spec.working_dir or "/",
                "user": user, "group": group}

    async def start(self, spec: ContainerSpec) -> ShimContainer:
        sandboxed = self.sandboxes and spec.sandbox
        files = AttemptFiles.for_spec(spec)
        if files.state.exists():
            if any(c.spec.attempt == spec.attempt and c.spec.name == spec.name
                   for c in await self.adopt(spec.pod_dir)):
                raise errors.RuntimeFailure(
                    f'container "{spec.name}" attempt {spec.attempt} of pod "{spec.pod_name}" is already running',
                    reason="CreateContainerError")
            shutil.rmtree(files.directory, ignore_errors=True)
        settings = self._prepare(spec, sandboxed)
        group: Cgroup | None = None
        if self.cgroups.available:
            try:
                group = self.cgroups.create(_cgroup_name(spec), spec.limits)
            except OSError as exc:
                raise errors.RuntimeFailure(f"failed to create the container's cgroup: {exc}",
                                            reason="CreateContainerError") from exc
        files.directory.mkdir(parents=True, exist_ok=True)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        state = {"spec": spec_to_json(spec), "sandboxed": sandboxed, "log_path": str(spec.log_path),
                 "cgroup": group.to_json() if group is not None else None, **settings}
        write_json_atomic(files.state, state)
        try:
            pid_info = await self._launch_shim(files)
        except BaseException:
            if group is not None and not files.pid.exists():
                group.remove()
            raise
        return ShimContainer(spec, files, state, pid_info)

    async def _launch_shim(self, files: AttemptFiles) -> dict[str, Any]:
        with files.shim_log.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gitkube.agent.shim", str(files.state),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd="/")
        code = await proc.wait()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            pid_info = read_json(files.pid)
            if pid_info is not None:
                return pid_info
            exited = read_json(files.exit)
            if exited is not None:
                status = exit_from_json(exited)
                raise errors.RuntimeFailure(status.message or "the container could not be started",
                                            reason=status.reason if status.reason != "Error" else "ContainerCannotRun")
            if code != 0 or time.monotonic() > deadline:
                detail = files.shim_log.read_text(errors="replace").strip()[-500:]
                raise errors.RuntimeFailure(f"the container's shim did not start: {detail or f'exit code {code}'}",
                                            reason="CreateContainerError")
            await asyncio.sleep(0.01)

    async def adopt(self, pod_dir: Path) -> list[ContainerProcess]:
        found: list[ContainerProcess] = []
        for state_file in sorted(Path(pod_dir).glob("runtime/*/*/state.json")):
            files = AttemptFiles(state_file.parent)
            state, pid_info = read_json(state_file), read_json(files.pid)
            if state is None or pid_info is None or files.exit.exists():
                continue
            container = ShimContainer(spec_from_json(state["spec"]), files, state, pid_info)
            if container.running():
                found.append(container)
        return found

    async def last_exit(self, spec: ContainerSpec) -> ExitStatus | None:
        files = AttemptFiles.for_spec(spec)
        data = read_json(files.exit)
        if data is not None:
            return exit_from_json(data)
        pid_info = read_json(files.pid)
        if pid_info is None:
            return None
        if process_alive(pid_info.get("shim_pid"), pid_info.get("shim_create_time")) or process_alive(
                pid_info.get("pid"), pid_info.get("create_time")):
            return None
        data = read_json(files.exit)
        if data is not None:
            return exit_from_json(data)
        state = read_json(files.state)
        if state is not None and state.get("cgroup"):
            Cgroup.from_json(state["cgroup"]).remove()
        return lost_status(str(pid_info.get("started_at", "")))


class ProcessRuntime(_ShimRuntime):
    """Containers as plain host processes (no filesystem isolation; limits via cgroups)."""

    name = "process"
    sandboxes = False


class BubblewrapRuntime(_ShimRuntime):
    """Containers in bubblewrap sandboxes (``ContainerSpec.sandbox=False`` runs one plainly)."""

    name = "bubblewrap"
    sandboxes = True


def bwrap_works(data_dir: Path) -> bool:
    """Whether ``bwrap`` is installed and can build this runtime's sandbox (runs ``true`` once)."""
    if shutil.which("bwrap") is None or shutil.which("setpriv") is None:
        return False
    probe = ContainerSpec(pod_uid="probe", pod_namespace="", pod_name="probe", name="probe", attempt=0,
                          argv=("true",), env=(("PATH", sandbox.DEFAULT_PATH),), pod_dir=data_dir,
                          log_path=data_dir / "probe.log",
                          run_as_user=65534 if os.geteuid() == 0 else None)
    argv = sandbox.bwrap_argv(probe, sandbox.sandbox_view(probe, data_dir), ["true"])
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, check=False)
        return done.returncode == 0
    return False


def detect_runtime(data_dir: Path) -> Runtime:
    """``BubblewrapRuntime`` when bwrap works here, else ``ProcessRuntime``."""
    if bwrap_works(data_dir):
        return BubblewrapRuntime(data_dir)
    return ProcessRuntime(data_dir)
