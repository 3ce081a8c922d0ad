"""The files a container attempt's shim and the runtime share, below the pod's directory.

``DATA/pods/<ns>_<pod>_<uid>/runtime/<container>/<attempt>/`` holds

- ``state.json``: written by the runtime before it starts the shim: the container spec, the
  command line to run, the log path and the cgroup (enough for a later agent to adopt it);
- ``pid.json``: written by the shim once the container process runs: shim pid, container pid
  and their start times (psutil ``create_time``, to tell a live process from a reused pid);
- ``exit.json``: written atomically by the shim when the container ended: exit code, signal,
  reason (``Completed``, ``Error``, ``OOMKilled``, ``ContainerCannotRun``), start/finish times;
- ``shim.log``: the shim's own diagnostics.

Used by ``gitkube.agent.runtime`` and ``gitkube.agent.shim``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from gitkube.agent.runtime_api import ContainerSpec, ExitStatus, Limits, Mount

__all__ = [
    "AttemptFiles",
    "exit_from_json",
    "exit_to_json",
    "process_alive",
    "read_json",
    "spec_from_json",
    "spec_to_json",
    "write_json_atomic",
]


@dataclass(frozen=True)
class AttemptFiles:
    directory: Path

    @classmethod
    def for_spec(cls, spec: ContainerSpec) -> AttemptFiles:
        return cls(spec.pod_dir / "runtime" / spec.name / str(spec.attempt))

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    @property
    def pid(self) -> Path:
        return self.directory / "pid.json"

    @property
    def exit(self) -> Path:
        return self.directory / "exit.json"

    @property
    def shim_log(self) -> Path:
        return self.directory / "shim.log"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def spec_to_json(spec: ContainerSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["pod_dir"] = str(spec.pod_dir)
    data["log_path"] = str(spec.log_path)
    data["argv"] = list(spec.argv)
    data["env"] = [list(kv) for kv in spec.env]
    data["mounts"] = [{"host_path": str(m.host_path), "container_path": m.container_path,
                       "read_only": m.read_only} for m in spec.mounts]
    return data


def spec_from_json(data: dict[str, Any]) -> ContainerSpec:
    return ContainerSpec(
        pod_uid=data["pod_uid"], pod_namespace=data["pod_namespace"], pod_name=data["pod_name"],
        name=data["name"], attempt=int(data["attempt"]), argv=tuple(data["argv"]),
        env=tuple((str(k), str(v)) for k, v in data["env"]), pod_dir=Path(data["pod_dir"]),
        log_path=Path(data["log_path"]), working_dir=data.get("working_dir"),
        mounts=tuple(Mount(Path(m["host_path"]), m["container_path"], bool(m["read_only"]))
                     for m in data.get("mounts", [])),
        run_as_user=data.get("run_as_user"), run_as_group=data.get("run_as_group"),
        limits=Limits(**data.get("limits", {})), pod_ip=data.get("pod_ip", ""),
        sandbox=bool(data.get("sandbox", True)),
    )


def exit_to_json(status: ExitStatus) -> dict[str, Any]:
    return asdict(status)


def exit_from_json(data: dict[str, Any]) -> ExitStatus:
    return ExitStatus(exit_code=int(data["exit_code"]), reason=str(data["reason"]),
                      message=str(data.get("message", "")), started_at=str(data.get("started_at", "")),
                      finished_at=str(data.get("finished_at", "")), signal=data.get("signal"))


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """True when ``pid`` runs and is the same process that started at ``create_time``."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return False
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
