"""An in-memory container runtime for unit tests of the node agent and pod workers.

``FakeRuntime`` implements ``gitkube.agent.runtime_api.Runtime`` without spawning anything.
A test scripts how each container behaves with :meth:`FakeRuntime.behave` (exit code, delay,
log lines, ignoring SIGTERM, exec results, usage) or drives it by hand
(:meth:`FakeContainer.finish`). Log lines are written to ``spec.log_path`` in the CRI format, so
``pods/log`` works against a fake-run pod. Containers live in the runtime object, not in the
agent: handing the same runtime to a second agent simulates an agent restart, and
:meth:`FakeRuntime.adopt` returns the containers still running for a pod dir.

Example::

    rt = FakeRuntime()
    rt.behave("app", FakeBehaviour(exit_code=1, after=0.05, logs=("boom",)))
    rt.cannot_run["nosuchcmd"] = 'exec: "nosuchcmd": executable file not found in $PATH'
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent.runtime_api import ContainerProcess, ContainerSpec, ExitStatus, Runtime
from gitkube.agent.runtime_logs import CRILogWriter, rfc3339

__all__ = ["FakeBehaviour", "FakeContainer", "FakeRuntime", "as_runtime", "container_spec"]

ExecHandler = Callable[[list[str]], tuple[int, bytes]]


@dataclass
class FakeBehaviour:
    """How a fake container behaves once started.

    ``exit_code=None`` runs until stopped or :meth:`FakeContainer.finish`; otherwise the container
    exits with ``exit_code`` ``after`` seconds (reason ``Completed`` for 0, ``Error`` otherwise,
    unless ``reason`` is given, e.g. ``OOMKilled``). ``ignore_sigterm`` makes ``stop`` wait the
    whole grace period and end with SIGKILL (137). ``exec_results`` maps ``argv[0]`` of an exec to
    its result; ``exec_handler`` (if set) answers every exec instead.
    """

    exit_code: int | None = None
    after: float = 0.0
    reason: str | None = None
    logs: tuple[str, ...] = ()
    stderr_logs: tuple[str, ...] = ()
    ignore_sigterm: bool = False
    exec_results: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    exec_handler: ExecHandler | None = None
    usage: tuple[int, int] = (0, 0)


class FakeContainer:
    """A container attempt that exists only in memory (implements ``ContainerProcess``)."""

    _next_pid = 40000

    def __init__(self, spec: ContainerSpec, behaviour: FakeBehaviour, sandboxed: bool) -> None:
        self.spec = spec
        self.behaviour = behaviour
        FakeContainer._next_pid += 1
        self.pid = FakeContainer._next_pid
        self.started_at = rfc3339()
        self.sandboxed = sandboxed
        self.status: ExitStatus | None = None
        self.stop_calls: list[float] = []
        self.exec_calls: list[list[str]] = []
        self._done = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        writer = CRILogWriter(spec.log_path)
        try:
            for line in behaviour.logs:
                writer.write_line("stdout", line.encode())
            for line in behaviour.stderr_logs:
                writer.write_line("stderr", line.encode())
        finally:
            writer.close()
        if behaviour.exit_code is not None:
            code = behaviour.exit_code
            self._timer = asyncio.get_running_loop().call_later(
                behaviour.after, lambda: self.finish(code, reason=behaviour.reason))

    def finish(self, exit_code: int, *, reason: str | None = None, signal_number: int | None = None,
               message: str = "") -> None:
        """End the container now (no-op when it already ended)."""
        if self.status is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self.status = ExitStatus(
            exit_code=exit_code, reason=reason or ("Completed" if exit_code == 0 else "Error"),
            message=message, started_at=self.started_at, finished_at=rfc3339(), signal=signal_number)
        self._done.set()

    def running(self) -> bool:
        return self.status is None

    async def wait(self) -> ExitStatus:
        await self._done.wait()
        assert self.status is not None
        return self.status

    async def stop(self, grace_seconds: float) -> ExitStatus:
        self.stop_calls.append(grace_seconds)
        if self.status is None:
            if self.behaviour.ignore_sigterm:
                try:
                    await asyncio.wait_for(self._done.wait(), timeout=grace_seconds)
                except TimeoutError:
                    self.finish(128 + signal.SIGKILL, signal_number=signal.SIGKILL)
            else:
                self.finish(128 + signal.SIGTERM, signal_number=signal.SIGTERM)
        return await self.wait()

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, bytes]:
        self.exec_calls.append(list(argv))
        if self.status is not None:
            raise errors.RuntimeFailure("container not running", reason="ContainerNotRunning")
        if self.behaviour.exec_handler is not None:
            return self.behaviour.exec_handler(argv)
        return self.behaviour.exec_results.get(argv[0] if argv else "", (0, b""))

    def usage(self) -> tuple[int, int]:
        return self.behaviour.usage if self.status is None else (0, 0)


class FakeRuntime:
    """In-memory ``Runtime``: records every start, scripts behaviour per container name."""

    def __init__(self, name: str = "bubblewrap", *, limits_enforced: bool = True) -> None:
        self.name = name
        self.limits_enforced = limits_enforced
        self.behaviours: dict[str, FakeBehaviour] = {}
        self.cannot_run: dict[str, str] = {}  # argv[0] -> ContainerCannotRun message
        self.started: list[ContainerSpec] = []
        self.containers: dict[str, FakeContainer] = {}  # container_id -> latest

    def behave(self, container_name: str, behaviour: FakeBehaviour) -> None:
        """Script every later attempt of containers named ``container_name``."""
        self.behaviours[container_name] = behaviour

    async def start(self, spec: ContainerSpec) -> FakeContainer:
        if spec.argv and spec.argv[0] in self.cannot_run:
            raise errors.RuntimeFailure(self.cannot_run[spec.argv[0]], reason="ContainerCannotRun")
        if not spec.argv:
            raise errors.RuntimeFailure("no command specified", reason="ContainerCannotRun")
        existing = self.containers.get(spec.container_id)
        if existing is not None and existing.running():
            raise errors.RuntimeFailure(f"container {spec.container_id} is already running",
                                        reason="CreateContainerError")
        self.started.append(spec)
        behaviour = self.behaviours.get(spec.name, FakeBehaviour())
        container = FakeContainer(spec, behaviour, sandboxed=spec.sandbox and self.name == "bubblewrap")
        self.containers[spec.container_id] = container
        return container

    async def adopt(self, pod_dir: Path) -> list[ContainerProcess]:
        return [c for c in self.containers.values() if c.spec.pod_dir == pod_dir and c.running()]

    async def last_exit(self, spec: ContainerSpec) -> ExitStatus | None:
        container = self.containers.get(spec.container_id)
        return container.status if container is not None else None

    def running_for(self, pod_uid: str) -> list[FakeContainer]:
        """The running containers of a pod (test helper)."""
        return [c for c in self.containers.values() if c.spec.pod_uid == pod_uid and c.running()]


def as_runtime(runtime: FakeRuntime) -> Runtime:
    """``runtime`` typed as the ``Runtime`` Protocol (mypy checks the fake conforms)."""
    return runtime


def container_spec(data_dir: Path, argv: Sequence[str], *, name: str = "app", attempt: int = 0,
                   pod_name: str = "web", namespace: str = "default", pod_uid: str | None = None,
                   env: Sequence[tuple[str, str]] | None = None, **fields: Any) -> ContainerSpec:
    """A ``ContainerSpec`` laid out as the agent lays it out below ``data_dir``.

    ``PATH`` defaults to this Python's bin directory plus the usual container PATH, so
    ``python3`` resolves to the interpreter running the tests. Extra ``fields`` (mounts,
    working_dir, run_as_user, limits, sandbox...) are passed through.
    """
    uid = pod_uid or str(uuid.uuid4())
    pod_dir = data_dir / "pods" / f"{namespace}_{pod_name}_{uid}"
    path = f"{os.path.dirname(sys.executable)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return ContainerSpec(
        pod_uid=uid, pod_namespace=namespace, pod_name=pod_name, name=name, attempt=attempt,
        argv=tuple(argv), env=tuple(env) if env is not None else (("PATH", path),), pod_dir=pod_dir,
        log_path=pod_dir / "logs" / name / f"{attempt}.log", **fields)
