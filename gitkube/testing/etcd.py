"""Test kit: real etcd servers on loopback, for the etcd store's tests and the HA/failover tests.

- :class:`EtcdMember`: one ``/usr/bin/etcd`` process with its own data dir and free client and
  peer ports; :meth:`EtcdMember.start` waits for ``/health`` with a deadline, :meth:`stop`
  (SIGTERM) and :meth:`kill` (SIGKILL) end it, and it can be started again on the same data
  dir (a restart keeps every key and the revision).
- :func:`single_member` starts a one-member cluster; :class:`EtcdCluster` starts ``n``
  members that form one cluster (for failover tests: stop or kill one and the others go on).
- :func:`etcd_binary` is the path of the etcd server, or ``None``: tests skip with a clear
  reason only then (``scripts/test.sh`` installs Debian's ``etcd-server``).

Every process's log goes to ``<data dir>.log``; a member that does not become healthy in time
is killed and the error quotes the tail of its log. Nothing in ``gitkube`` imports this
package (layering rule R7); used by ``tests/unit/store/test_etcd.py``, the e2e tests and
``bench/bench_store.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence

from gitkube import errors
from gitkube.testing.servers import free_port

__all__ = [
    "ETCD_PATHS",
    "EtcdCluster",
    "EtcdError",
    "EtcdMember",
    "etcd_binary",
    "free_port",
    "single_member",
]

ETCD_PATHS = ("/usr/bin/etcd", "/usr/local/bin/etcd")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class EtcdError(errors.GitkubeError):
    """An etcd test server could not be started or stopped (the message quotes its log)."""


def etcd_binary() -> str | None:
    """The etcd server executable (``/usr/bin/etcd`` from Debian's ``etcd-server``), or None."""
    for path in ETCD_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("etcd")


class EtcdMember:
    """One etcd server process of a (possibly one-member) loopback cluster."""

    def __init__(self, name: str, data_dir: pathlib.Path, *, client_port: int | None = None,
                 peer_port: int | None = None, binary: str | None = None) -> None:
        found = binary or etcd_binary()
        if found is None:
            raise EtcdError("etcd is not installed (apt-get install etcd-server)")
        self.binary = found
        self.name = name
        self.data_dir = pathlib.Path(data_dir)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self.initial_cluster = f"{name}={self.peer_url}"
        self.cluster_token = f"gitkube-test-{name}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the client API."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        state = "existing" if self._started_once or (self.data_dir / "member").exists() else "new"
        return [
            self.binary, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster, "--initial-cluster-state", state,
            "--initial-cluster-token", self.cluster_token,
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--logger", "zap", "--log-outputs", "stderr",
        ]

    def launch(self) -> None:
        """Start the process without waiting for it to be healthy."""
        if self.running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self._started_once = True

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process (on its data dir as it is) and wait until it answers healthy."""
        self.launch()
        self.wait_healthy(timeout)

    def healthy(self) -> bool:
        """True when ``/health`` answers ``{"health": "true"}``."""
        try:
            with urllib.request.urlopen(f"{self.client_url}/health", timeout=1.0) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise EtcdError(f"etcd {self.name} exited with {self._exit_code()}:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        self.kill()
        raise EtcdError(f"etcd {self.name} was not healthy within {timeout:.0f}s:\n{self.log_tail()}")

    def _exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout``); the data dir stays."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL and reap; the data dir stays."""
        self._signal(signal.SIGKILL, STOP_TIMEOUT)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets open but answers nothing."""
        if self._proc is not None and self.running():
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None and self.running():
            self._proc.send_signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        self._proc = None


def _url(endpoints: Sequence[str], prefix: str) -> str:
    return "etcd://" + ",".join(endpoints) + prefix


class EtcdCluster:
    """``n`` loopback etcd members forming one cluster, data dirs under ``root``."""

    def __init__(self, root: pathlib.Path, size: int = 3, *, binary: str | None = None) -> None:
        if size < 1:
            raise EtcdError(f"an etcd cluster needs at least one member, not {size}")
        root = pathlib.Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self.members = [EtcdMember(f"m{i}", root / f"m{i}", binary=binary) for i in range(size)]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        token = f"gitkube-test-{os.getpid()}-{root.name}"
        for member in self.members:
            member.initial_cluster = initial
            member.cluster_token = token

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def url(self, prefix: str = "") -> str:
        """The ``--store`` URL naming every member (and a key prefix such as ``/test-1``)."""
        return _url(self.endpoints, prefix)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start every member (they must all be up to elect a leader) and wait for health."""
        for member in self.members:
            member.launch()
        deadline = time.monotonic() + timeout
        try:
            for member in self.members:
                member.wait_healthy(max(0.1, deadline - time.monotonic()))
        except EtcdError:
            self.close()
            raise

    def close(self) -> None:
        for member in self.members:
            member.kill()

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def single_member(root: pathlib.Path, name: str = "etcd") -> Iterator[EtcdMember]:
    """A started one-member etcd with its data dir at ``root/name``; killed at exit."""
    member = EtcdMember(name, pathlib.Path(root) / name)
    member.start()
    try:
        yield member
    finally:
        member.kill()


def member_url(member: EtcdMember, prefix: str = "") -> str:
    """The ``--store`` URL of one member, with an optional key prefix."""
    return _url([member.endpoint], prefix)


__all__ += ["member_url"]
