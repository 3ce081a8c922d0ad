"""The README's quick start, run as a new user would: its own commands, parsed out of README.md.

The commands sit in README.md after ``<!-- quickstart -->`` (install and ``gitkube up``) and
``<!-- quickstart:look -->`` (what to look at from another terminal) markers, each followed by a
fenced ``sh`` block. The test runs them with a fresh ``$HOME`` (so the data dir is the default
``~/.local/share/gitkube``) in a fresh clone of this working tree, with ``gitkube`` and
``kubectl`` on ``$PATH``; the only changes to the commands are unusual ports and this test's own
address ranges (``--listen``, ``--ingress-listen``, ``--service-cidr``, ``--cluster-cidr``), and
the ``pip install`` is skipped (the suite runs from an editable install). It waits for the sync to
be ``Synced``, runs the look-around block (curl through the ingress included), and stops the daemon.

The helpers (:func:`shell_blocks`, :class:`UserShell`) are shared with ``test_examples.py``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from gitkube.testing.servers import free_port
from tests.e2e.conftest import _kubectl_binary
from tests.e2e.test_kubectl import wait_for
from tests.e2e.test_workloads import reap_containers

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README_INGRESS = "127.0.0.1:8080"  # the ingress address the READMEs use
SERVICE_CIDR, CLUSTER_CIDR = "127.77.0.0/16", "127.108.0.0/14"

_BLOCK = re.compile(r"<!--\s*([\w:-]+)\s*-->\s*\n```(?:sh|bash)\n(.*?)```", re.S)


def shell_blocks(markdown: str) -> dict[str, str]:
    """The fenced ``sh`` blocks that follow a ``<!-- name -->`` marker, by name."""
    blocks = {name: body for name, body in _BLOCK.findall(markdown)}
    assert blocks, "no <!-- name --> marked sh blocks found"
    return blocks


def commands(block: str) -> list[str]:
    """The command lines of a block: comments stripped, backslash continuations joined."""
    joined = block.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


@dataclass
class UserShell:
    """A new user's shell: a fresh HOME, ``gitkube`` and ``kubectl`` on PATH, a git identity."""

    home: Path
    bin_dir: Path
    ingress_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)

    @classmethod
    def create(cls, base: Path) -> UserShell:
        home, bin_dir = base / "home", base / "bin"
        home.mkdir()
        bin_dir.mkdir()
        wrapper = bin_dir / "gitkube"  # what `pip install .` puts on PATH
        wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m gitkube \"$@\"\n")
        wrapper.chmod(0o755)
        (bin_dir / "kubectl").symlink_to(_kubectl_binary())
        return cls(home, bin_dir)

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "gitkube"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("GITKUBE_DATA_DIR", "KUBECONFIG", "SOPS_AGE_KEY_FILE")}
        env.update(HOME=str(self.home), PATH=f"{self.bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
                   PYTHONPATH=str(ROOT), GIT_TERMINAL_PROMPT="0",
                   GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
                   GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
        return env

    def localize(self, text: str) -> str:
        """The README's ports replaced by this test's."""
        return text.replace(README_INGRESS, f"127.0.0.1:{self.ingress_port}")

    def run(self, block: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run a README block in bash as written (ports localized), in ``cwd``."""
        return subprocess.run(["bash", "-c", self.localize(block)], cwd=cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def gitkube(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["gitkube", *args], cwd=cwd or self.home, env=self.env, capture_output=True,
                              text=True, timeout=180)

    def status(self) -> dict[str, Any]:
        proc = self.gitkube("status", "-o", "json")
        return cast(dict[str, Any], json.loads(proc.stdout)) if proc.returncode == 0 and proc.stdout.strip() else {}

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", str(self.data_dir / "kubeconfig"), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def curl_ingress(self, host: str) -> str:
        req = urllib.request.Request(f"http://127.0.0.1:{self.ingress_port}/", headers={"Host": host})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return cast(bytes, resp.read()).decode()
        except OSError:
            return ""


@dataclass
class UpProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_up(shell: UserShell, command: str, cwd: Path, timeout: float = 60) -> UpProcess:
    """Start the README's ``gitkube up ...`` line with this test's ports and address ranges."""
    assert command.startswith("gitkube up"), command
    line = (f"exec {shell.localize(command)} --listen 127.0.0.1:{shell.api_port} "
            f"--service-cidr {SERVICE_CIDR} --cluster-cidr {CLUSTER_CIDR}")
    log_path = shell.home.parent / "gitkube-up.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(["bash", "-c", line], cwd=cwd, env=shell.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    up = UpProcess(proc, log_path)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gitkube up exited with {proc.returncode}:\n{up.log()}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{shell.api_port}/readyz", context=ctx, timeout=1) as r:
                if r.status == 200 and (shell.data_dir / "kubeconfig").exists():
                    return up
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"gitkube up not ready after {timeout}s:\n{up.log()}")


def stop_up(up: UpProcess) -> int:
    if up.proc.poll() is None:
        up.proc.send_signal(signal.SIGTERM)
        try:
            up.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.proc.kill()
            up.proc.wait()
    return int(up.proc.returncode)


def clone_working_tree(dest: Path) -> Path:
    """A fresh git repository holding this working tree as one commit on ``main`` (what a user's
    clone of gitkube would hold, uncommitted changes of the checkout included)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(["git", *args], cwd=dest, env=env, check=True, capture_output=True)
    return dest


def wait_synced(shell: UserShell, up: UpProcess, commit: str | None = None, timeout: float = 60,
                healthy: bool = False) -> dict[str, Any]:
    """``gitkube status -o json`` once it reports Synced (at ``commit`` when given; with every
    object Healthy when ``healthy``: health is live, and an HPA may still be adding pods)."""
    last: list[dict[str, Any]] = [{}]

    def synced() -> dict[str, Any] | None:
        if up.proc.poll() is not None:
            raise AssertionError(f"gitkube up exited with {up.proc.returncode}:\n{up.log()}")
        status = last[0] = shell.status()
        if status.get("syncState") != "Synced" or (commit is not None and status.get("commit") != commit):
            return None
        if healthy and any(h["status"] != "Healthy" for h in status.get("health", [])):
            return None
        return status
    try:
        return cast(dict[str, Any], wait_for(synced, timeout=timeout, what=f"Synced {commit or ''}{' and healthy' if healthy else ''}"))
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {json.dumps(last[0], indent=1)}") from None


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UserShell, Path, UpProcess]]:
    base = tmp_path_factory.mktemp("qs")
    shell = UserShell.create(base)
    clone = clone_working_tree(base / "gitkube")
    [install_and_up] = commands(shell_blocks((clone / "README.md").read_text())["quickstart"])
    install, _, up_line = install_and_up.partition(" && ")
    assert install in ("python3 -m pip install .", "pip install ."), install
    up = start_up(shell, up_line, cwd=clone)
    try:
        yield shell, clone, up
    finally:
        rc = stop_up(up)
        reap_containers(shell.data_dir)
        assert rc == 0, up.log()


def test_quickstart_deploys_the_examples(quickstart: tuple[UserShell, Path, UpProcess]) -> None:
    shell, clone, up = quickstart
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                          check=True).stdout.strip()
    status = wait_synced(shell, up, head, timeout=60, healthy=True)
    assert len(status["health"]) == 19, status["health"]
    banner = up.log()
    assert f"https://127.0.0.1:{shell.api_port}" in banner and str(shell.data_dir / "kubeconfig") in banner, banner
    assert "Hello from gitkube" in wait_for(lambda: shell.curl_ingress("hello.localhost"), timeout=20,
                                            what="the page through the ingress")


def test_quickstart_look_around_commands(quickstart: tuple[UserShell, Path, UpProcess]) -> None:
    shell, clone, up = quickstart
    wait_synced(shell, up, timeout=60)
    block = shell_blocks((clone / "README.md").read_text())["quickstart:look"]
    result = shell.run(block, cwd=clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Synced" in result.stdout, result.stdout
    assert "deployment.apps/hello" in result.stdout, result.stdout
    assert "<h1>Hello from gitkube</h1>" in result.stdout, result.stdout
