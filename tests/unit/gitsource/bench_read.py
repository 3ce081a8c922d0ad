"""Time GitRepo.files() + GitRepo.read() on a generated repository (not a test; run by hand).

    python -m tests.unit.gitsource.bench_read [FILES]     # from the repository root

Builds a repository of FILES (default 10,000) small YAML files in a temp dir with
``git fast-import`` and prints the best-of-5 timings as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitkube.gitsource.repo import GitRepo

DOC = """apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-{i}
  namespace: ns-{d}
data:
  key: value-{i}
"""


def build(path: Path, count: int) -> None:
    subprocess.run(["git", "init", "-q", "--initial-branch=main", str(path)], check=True)
    lines = [b"commit refs/heads/main\n", b"committer b <b@example.com> 1700000000 +0000\n",
             b"data 5\nbench\n"]
    for i in range(count):
        body = DOC.format(i=i, d=i % 100).encode()
        lines.append(f"M 100644 inline apps/ns-{i % 100}/cm-{i}.yaml\ndata {len(body)}\n".encode())
        lines.append(body + b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(lines), cwd=path, check=True)


def best(fn: object, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), count)
        repo = GitRepo(Path(tmp))
        head = repo.resolve("main").sha
        files = repo.files(head)
        assert len(files) == count
        blobs = [f.blob for f in files]
        data = repo.read(blobs)
        result = {
            "files": count,
            "bytes": sum(len(v) for v in data.values()),
            "resolve_ms": round(best(lambda: repo.resolve("main")) * 1000, 1),
            "files_ms": round(best(lambda: repo.files(head)) * 1000, 1),
            "read_ms": round(best(lambda: repo.read(blobs)) * 1000, 1),
            "files_plus_read_ms": round(best(lambda: repo.read(f.blob for f in repo.files(head))) * 1000, 1),
            "read_one_blob_ms": round(best(lambda: repo.read(blobs[:1])) * 1000, 1),
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
