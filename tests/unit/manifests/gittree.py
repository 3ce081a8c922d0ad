"""A small TreeReader over the ``git`` CLI, for the manifests tests and bench.

The real reader lives in ``gitkube.gitsource``; this one exists so the manifests layer is tested
against real git objects without depending on it: ``git ls-tree -r -l``, ``git cat-file --batch``
and ``git archive | tar -x``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GIT = shutil.which("git") or "git"


@dataclass(frozen=True)
class GitFile:
    path: str
    blob: str
    mode: str
    size: int


class GitTree:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.reads = 0  # blobs read, for tests that assert on what was (not) read

    def git(self, *args: str, data: bytes | None = None) -> bytes:
        return subprocess.run([GIT, "-C", str(self.repo), *args], input=data, capture_output=True,
                              check=True).stdout

    def files(self, commit: str, subpath: str = "") -> list[GitFile]:
        args = ["ls-tree", "-r", "-l", "-z", commit]
        if subpath:
            args += ["--", subpath]
        out: list[GitFile] = []
        for record in self.git(*args).split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, blob, size = meta.split()
            if kind != b"blob":
                continue
            out.append(GitFile(path.decode(), blob.decode(), mode.decode(), int(size)))
        return out

    def read(self, blobs: Iterable[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(blobs))
        if not wanted:
            return {}
        self.reads += len(wanted)
        raw = self.git("cat-file", "--batch", data="".join(f"{b}\n" for b in wanted).encode())
        out: dict[str, bytes] = {}
        pos = 0
        for blob in wanted:
            end = raw.index(b"\n", pos)
            header = raw[pos:end].split()
            size = int(header[2])
            out[blob] = raw[end + 1:end + 1 + size]
            pos = end + 1 + size + 1
        return out

    def export(self, commit: str, subpath: str, dest: Path) -> None:
        args = ["archive", "--format=tar", commit]
        if subpath:
            args += ["--", subpath]
        with tarfile.open(fileobj=io.BytesIO(self.git(*args))) as tar:
            tar.extractall(dest, filter="tar")


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run([GIT, "init", "-q", "-b", "main", str(path)], check=True)
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"), ("commit.gpgsign", "false")):
        subprocess.run([GIT, "-C", str(path), "config", key, value], check=True)
    return path


def commit_all(repo: Path, message: str = "commit") -> str:
    subprocess.run([GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([GIT, "-C", str(repo), "commit", "-q", "--allow-empty", "-m", message], check=True)
    return subprocess.run([GIT, "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
