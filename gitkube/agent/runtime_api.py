"""The container runtime contract between the node agent's pod workers and a runtime.

A pod worker (``gitkube.agent.podworker``) decides *what* runs: it resolves the
container's argv, env, mounts, user and limits into a :class:`ContainerSpec`. A runtime
(``gitkube.agent.runtime``: bubblewrap sandbox or plain process) decides *how*: it starts
the process under a small supervisor ("shim", like containerd-shim/conmon) that outlives the
agent, writes the CRI-format log file and the exit status, so a restarted agent can
``adopt`` containers that are still running and read how finished ones ended.

Only ``gitkube.agent.runtime`` spawns pod processes (layering rule R8). Tests use a fake
runtime that implements the same Protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["ContainerProcess", "ContainerSpec", "ExitStatus", "Limits", "Mount", "Runtime"]


@dataclass(frozen=True)
class Mount:
    host_path: Path
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class Limits:
    cpu_millis: int | None = None  # limits.cpu in millicores (cfs quota)
    memory_bytes: int | None = None  # limits.memory
    pids: int | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a runtime needs to start one container attempt."""

    pod_uid: str
    pod_namespace: str
    pod_name: str
    name: str  # container name
    attempt: int  # restartCount of this attempt; the log file is logs/<name>/<attempt>.log
    argv: tuple[str, ...]  # after $(VAR) expansion; argv[0] is looked up on the PATH of ``env``
    env: tuple[tuple[str, str], ...]
    pod_dir: Path  # DATA/pods/<ns>_<pod>_<uid>/ (the runtime keeps its state below it)
    log_path: Path  # DATA/pods/<ns>_<pod>_<uid>/logs/<name>/<attempt>.log, CRI format
    working_dir: str | None = None
    mounts: tuple[Mount, ...] = ()
    run_as_user: int | None = None
    run_as_group: int | None = None
    limits: Limits = field(default_factory=Limits)
    pod_ip: str = ""
    sandbox: bool = True  # False forces the plain-process runtime for this container

    @property
    def container_id(self) -> str:
        """Stable id of this attempt: ``gitkube://<pod uid>/<name>/<attempt>``."""
        return f"gitkube://{self.pod_uid}/{self.name}/{self.attempt}"


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    reason: str  # "Completed" (0), "Error", "OOMKilled", "ContainerCannotRun"
    message: str = ""
    started_at: str = ""  # RFC 3339
    finished_at: str = ""
    signal: int | None = None


class ContainerProcess(Protocol):
    """One running (or finished) container attempt."""

    spec: ContainerSpec
    pid: int
    started_at: str
    sandboxed: bool  # False when the plain-process fallback ran it

    def running(self) -> bool: ...

    async def wait(self) -> ExitStatus:
        """Until the container exits (works for adopted containers too)."""
        ...

    async def stop(self, grace_seconds: float) -> ExitStatus:
        """SIGTERM, then SIGKILL to the whole process tree after ``grace_seconds``."""
        ...

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, bytes]:
        """Run a command in the container's view (same mounts, env, user): exec probes."""
        ...

    def usage(self) -> tuple[int, int]:
        """(CPU time in nanoseconds, resident memory in bytes) of the process tree."""
        ...


class Runtime(Protocol):
    name: str  # "bubblewrap" or "process"

    async def start(self, spec: ContainerSpec) -> ContainerProcess:
        """Start a container attempt. Raises ``errors.RuntimeFailure`` (reason
        ``ContainerCannotRun``) when it cannot start: command not found, not executable,
        working dir missing."""
        ...

    async def adopt(self, pod_dir: Path) -> list[ContainerProcess]:
        """Containers of this pod still supervised by a shim from an earlier agent run."""
        ...

    async def last_exit(self, spec: ContainerSpec) -> ExitStatus | None:
        """How an attempt that already ended ended (from the shim's exit file), if known."""
        ...
