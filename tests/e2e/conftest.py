"""End-to-end fixtures: a real ``gitkube up`` process, real kubectl, the real kubernetes client."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitkube.testing.servers import free_port  # noqa: E402  (re-exported for the e2e tests)


@dataclass
class Daemon:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def readonly_kubeconfig(self) -> Path:
        return self.data_dir / "readonly.kubeconfig"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_daemon(data_dir: Path, port: int | None = None, timeout: float = 30.0,
                 extra_args: list[str] | None = None) -> Daemon:
    port = port or free_port()
    log_path = data_dir.parent / f"{data_dir.name}-{port}.log"
    log_file = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitkube", "--log-level", "info", "up", "--data-dir", str(data_dir),
         "--listen", f"127.0.0.1:{port}", *(extra_args or [])],
        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )
    daemon = Daemon(data_dir, port, proc, log_path)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gitkube up exited with {proc.returncode}:\n{daemon.log()}")
        try:
            with urllib.request.urlopen(f"{daemon.url}/readyz", context=ctx, timeout=1) as resp:
                if resp.status == 200 and daemon.kubeconfig.exists():
                    return daemon
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"gitkube up not ready after {timeout}s:\n{daemon.log()}")


def stop_daemon(daemon: Daemon, sig: int = signal.SIGTERM) -> int:
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(sig)
        try:
            daemon.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait()
    return int(daemon.proc.returncode)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # API-level tests: no node, so Deployments they create stay Pending instead of running
    d = start_daemon(tmp_path_factory.mktemp("gitkube") / "data", extra_args=["--no-local-node"])
    yield d
    stop_daemon(d)


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path
    binary: str

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
            kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, "--kubeconfig", str(kubeconfig or self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        cmd = [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kubectl_binary() -> str:
    for name in ("kubectl.1.32", "kubectl"):
        found = shutil.which(name) or (f"/usr/lib/google-cloud-sdk/bin/{name}" if os.path.exists(f"/usr/lib/google-cloud-sdk/bin/{name}") else None)
        if found:
            return found
    pytest.fail("kubectl is not installed: scripts/test.sh installs it")


@pytest.fixture(scope="session")
def kubectl(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(daemon.kubeconfig, tmp_path_factory.mktemp("kubecache"), _kubectl_binary())


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "-f", "-", input=f'{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}"}}}}')
    yield name
