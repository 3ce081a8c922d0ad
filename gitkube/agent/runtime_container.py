"""A container attempt supervised by a shim, as the agent sees it (``ContainerProcess``).

``gitkube.agent.runtime`` returns :class:`ShimContainer` from ``start`` and ``adopt``. It works
the same whether this agent started the shim or an earlier one did: it reads the attempt's
``pid.json`` and ``exit.json`` (``gitkube.agent.runtime_state``), checks liveness with psutil
(pid plus start time), signals the process tree to stop it, and runs exec probes in the
container's view: ``nsenter`` into the sandbox's namespaces for a bubblewrap container, a plain
child with the container's env, user and cgroup for a process container.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from typing import Any

import psutil

from gitkube import errors
from gitkube.agent.cgroups import Cgroup
from gitkube.agent.runtime_api import ContainerSpec, ExitStatus
from gitkube.agent.runtime_logs import rfc3339
from gitkube.agent.runtime_state import AttemptFiles, exit_from_json, process_alive, read_json
from gitkube.agent.sandbox import setpriv_prefix
from gitkube.agent.shim import child_preexec

__all__ = ["ShimContainer", "lost_status"]

POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 0.5


def lost_status(started_at: str) -> ExitStatus:
    """The status of an attempt whose shim died without recording how the container ended."""
    return ExitStatus(exit_code=137, reason="ContainerStatusUnknown",
                      message="The container could not be located when the pod was terminated",
                      started_at=started_at, finished_at=rfc3339())


class ShimContainer:
    """One container attempt (implements ``runtime_api.ContainerProcess``)."""

    def __init__(self, spec: ContainerSpec, files: AttemptFiles, state: dict[str, Any],
                 pid_info: dict[str, Any]) -> None:
        self.spec = spec
        self.files = files
        self.pid = int(pid_info["pid"])
        self.started_at = str(pid_info.get("started_at", ""))
        self.sandboxed = bool(state.get("sandboxed"))
        self._create_time = float(pid_info["create_time"])
        self._shim_pid = int(pid_info["shim_pid"])
        self._shim_create_time = float(pid_info["shim_create_time"])
        self._cgroup = Cgroup.from_json(state["cgroup"]) if state.get("cgroup") else None
        self._env = dict(spec.env)
        self._cwd = str(state.get("cwd") or "/")

    def _exit(self) -> ExitStatus | None:
        data = read_json(self.files.exit)
        return exit_from_json(data) if data is not None else None

    def _shim_alive(self) -> bool:
        return process_alive(self._shim_pid, self._shim_create_time)

    def _alive(self) -> bool:
        return process_alive(self.pid, self._create_time)

    def running(self) -> bool:
        return not self.files.exit.exists() and (self._shim_alive() or self._alive())

    async def wait(self) -> ExitStatus:
        delay = POLL_SECONDS
        while True:
            status = self._exit()
            if status is not None:
                return status
            if not self._shim_alive():
                status = self._exit()  # it may have written the file just before exiting
                if status is not None:
                    return status
                if not self._alive():
                    if self._cgroup is not None:
                        self._cgroup.remove()
                    return lost_status(self.started_at)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            if abs(root.create_time() - self._create_time) > 0.01:
                return []
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _signal(self, sig: int, *, include_monitor: bool) -> None:
        for proc in self._tree():
            if proc.pid == self.pid and self.sandboxed and not include_monitor:
                continue  # SIGTERM to the bwrap monitor would SIGKILL the sandbox at once
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        if sig == signal.SIGKILL and self._cgroup is not None:
            for pid in self._cgroup.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    async def stop(self, grace_seconds: float) -> ExitStatus:
        if self.running():
            self._signal(signal.SIGTERM, include_monitor=False)
            try:
                return await asyncio.wait_for(self.wait(), timeout=max(grace_seconds, 0.0))
            except TimeoutError:
                pass
            self._signal(signal.SIGKILL, include_monitor=True)
        return await self.wait()

    def _sandbox_init(self) -> int:
        try:
            children = psutil.Process(self.pid).children()
        except psutil.Error:
            children = []
        if not children:
            raise errors.RuntimeFailure(f"container not running ({self.spec.container_id})",
                                        reason="ContainerNotRunning")
        return int(children[0].pid)

    def _exec_command(self, argv: list[str]) -> list[str]:
        if not self.sandboxed:
            return list(argv)
        init = self._sandbox_init()
        privs = setpriv_prefix(self.spec) or ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
        return ["nsenter", "-t", str(init), "-m", "-u", "-i", "-p", "-r", "-w", "--",
                *privs[:-1], "--no-new-privs", "--", *argv]

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, bytes]:
        """Run ``argv`` in the container's view; output is stdout and stderr together.

        Raises ``TimeoutError`` (after killing the command) when it runs longer than
        ``timeout`` and ``RuntimeFailure(reason="ContainerNotRunning")`` when the container ended.
        """
        if not self.running():
            raise errors.RuntimeFailure(f"container not running ({self.spec.container_id})",
                                        reason="ContainerNotRunning")
        command = self._exec_command(argv)
        plain = not self.sandboxed
        user = group = None
        if plain and (self.spec.run_as_user is not None or self.spec.run_as_group is not None):
            user, group = self.spec.run_as_user, self.spec.run_as_group
            if group is None:
                group = user
        preexec = child_preexec(self._cgroup, user, group, default_signals=False)
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=self._env, cwd=self._cwd if plain else "/", preexec_fn=preexec,
                start_new_session=True)
        except OSError as exc:
            return 126, f'exec: "{argv[0] if argv else ""}": {exc.strerror}'.encode()
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        return (proc.returncode if proc.returncode is not None else -1), output

    def usage(self) -> tuple[int, int]:
        cpu_ns = rss = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu_ns += int((times.user + times.system) * 1e9)
                    rss += proc.memory_info().rss
        return cpu_ns, rss
