"""The per-container supervisor ("shim"): ``python -m gitkube.agent.shim <state-file>``.

Like containerd-shim or conmon, one shim runs per container attempt and outlives the node agent
that started it, so that killing or restarting the agent leaves pods running. The runtime
(``gitkube.agent.runtime``) writes the attempt's ``state.json`` and starts the shim in a new
session; the shim forks once more (the first process exits at once, so the shim is nobody's
child), then

1. starts the container's command (``bwrap ...`` or the plain argv) in the attempt's cgroup,
2. writes ``pid.json`` (shim and container pids, start times),
3. copies stdout and stderr line by line into the CRI-format log file,
4. when the command exits, writes ``exit.json`` atomically (exit code, signal, ``OOMKilled``
   when the cgroup recorded an OOM kill, start and finish times), kills what is left in the
   cgroup, removes it and exits.

File layout and formats: ``gitkube.agent.runtime_state``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import psutil

from gitkube.agent.cgroups import Cgroup
from gitkube.agent.runtime_api import ExitStatus
from gitkube.agent.runtime_logs import CRILogWriter, rfc3339
from gitkube.agent.runtime_state import AttemptFiles, exit_to_json, read_json, write_json_atomic

__all__ = ["child_preexec", "copy_stream", "exit_status", "main", "supervise"]


def copy_stream(stream: IO[bytes], name: str, writer: CRILogWriter) -> None:
    """Copy ``stream`` into ``writer`` line by line; lines over the limit become ``P`` records
    followed by a final ``F`` one (output that ends without a newline ends with ``F`` too)."""
    held = b""  # a full-size chunk without newline: P if more follows, F at the end of output
    while True:
        chunk = stream.readline(writer.max_line)
        if held:
            if chunk:
                writer.write_partial(name, held)
            else:
                writer.write_line(name, held)
            held = b""
        if not chunk:
            return
        if chunk.endswith(b"\n") or len(chunk) < writer.max_line:
            writer.write_line(name, chunk)
        else:
            held = chunk


def exit_status(returncode: int, *, sandboxed: bool, oom_kills: int, started_at: str) -> ExitStatus:
    """How the container ended, worded as the kubelet reports it."""
    sig: int | None = None
    if returncode < 0:
        sig = -returncode
        code = 128 + sig
    else:
        code = returncode
        if sandboxed and 128 < code <= 128 + 64:  # bwrap reports death by signal N as 128+N
            sig = code - 128
    if oom_kills > 0 and code != 0:
        reason = "OOMKilled"
    else:
        reason = "Completed" if code == 0 else "Error"
    return ExitStatus(exit_code=code, reason=reason, started_at=started_at, finished_at=rfc3339(), signal=sig)


def child_preexec(cgroup: Cgroup | None, user: int | None = None, group: int | None = None,
                  *, default_signals: bool = True) -> Callable[[], None]:
    """What a container's (or exec's) child does between fork and exec: restore the signals the
    shim ignores, join the cgroup (while still root), then drop to ``user``/``group`` for real."""
    def setup() -> None:
        if default_signals:
            for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
        if cgroup is not None:
            cgroup.add(os.getpid())
        if user is not None or group is not None:
            os.setgroups([])
            gid = group if group is not None else (user if user is not None else 0)
            os.setresgid(gid, gid, gid)
            if user is not None:
                os.setresuid(user, user, user)
    return setup


def supervise(state_file: Path) -> int:
    """Run the container described by ``state_file`` to its end; returns the shim's exit code."""
    files = AttemptFiles(state_file.parent)
    state = read_json(state_file)
    if state is None:
        print(f"shim: cannot read {state_file}", file=sys.stderr)
        return 2
    cgroup = Cgroup.from_json(state["cgroup"]) if state.get("cgroup") else None
    sandboxed = bool(state.get("sandboxed"))
    writer = CRILogWriter(Path(state["log_path"]))
    user, group = state.get("user"), state.get("group")
    try:
        proc = subprocess.Popen(
            state["command"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=state["env"], cwd=state.get("cwd") or "/", process_group=0,
            preexec_fn=child_preexec(cgroup, user, group), close_fds=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        message = f'exec: "{state["command"][0]}": {exc.strerror if isinstance(exc, OSError) else exc}'
        now = rfc3339()
        write_json_atomic(files.exit, exit_to_json(ExitStatus(
            exit_code=128, reason="ContainerCannotRun", message=message, started_at=now, finished_at=now)))
        if cgroup is not None:
            cgroup.remove()
        writer.close()
        return 1
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        create_time = time.time()
    me = psutil.Process()
    started_at = rfc3339(create_time)
    write_json_atomic(files.pid, {
        "shim_pid": me.pid, "shim_create_time": me.create_time(), "pid": proc.pid,
        "create_time": create_time, "started_at": started_at,
    })
    assert proc.stdout is not None and proc.stderr is not None
    copiers = [threading.Thread(target=copy_stream, args=(s, n, writer), daemon=True)
               for s, n in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for thread in copiers:
        thread.start()
    returncode = proc.wait()
    oom_kills = cgroup.oom_kills() if cgroup is not None else 0
    if cgroup is not None:
        cgroup.remove()
    for thread in copiers:
        thread.join(timeout=2.0)
    status = exit_status(returncode, sandboxed=sandboxed, oom_kills=oom_kills, started_at=started_at)
    writer.close()
    write_json_atomic(files.exit, exit_to_json(status))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m gitkube.agent.shim <state-file>", file=sys.stderr)
        return 2
    state_file = Path(args[0])
    if os.fork() != 0:  # the runtime waits for this first process; the shim runs on orphaned
        return 0
    with contextlib.suppress(OSError):
        os.setsid()
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    try:
        code = supervise(state_file)
    except BaseException as exc:  # noqa: BLE001 - the shim must always leave a record
        print(f"shim: {exc!r}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
