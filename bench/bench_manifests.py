"""Benchmark of gitkube.manifests.load() on a generated 10,000-object repository; prints JSON.

    PYTHONPATH=. python bench/bench_manifests.py [--objects 10000]

Generates Deployments, Services and ConfigMaps (one object per file, every tenth file a
three-document file) in a temporary git repository, then measures, each phase in a fresh process:

- ``csafeloader_parse_s``: ``yaml.load_all(..., Loader=yaml.CSafeLoader)`` over the same blobs
  already in memory, nothing else (the issue's yardstick);
- ``cold_load_s``: ``load()`` with an empty parse cache (reads the blobs from git, parses,
  validates, checks duplicates; the process pool is used as it would be in the daemon);
  ``cold_load_inline_s`` the same with the pool disabled;
- ``warm_load_s``: a fresh ``ParseCache`` read from the file the cold run saved, then ``load()``;
- ``one_changed_file_load_s``: after a commit that changes one file, ``load()`` with that cache;
- ``cold_over_csafeloader``: the ratio (goal <= 1.5); goal for warm: <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.unit.manifests.gittree import GitTree, commit_all, init_repo

__all__ = ["main"]


def _deployment(i: int) -> dict[str, Any]:
    app = f"web-{i}"
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": f"team-{i % 20}", "labels": {"app": app, "tier": "front"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{
                         "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                         "env": [{"name": f"VAR_{j}", "value": f"value-{j}"} for j in range(4)],
                         "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                         "readinessProbe": {"httpGet": {"path": "/", "port": 80}}}]}}}}


def _service(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"web-{i}", "namespace": f"team-{i % 20}"},
            "spec": {"selector": {"app": f"web-{i}"}, "ports": [{"port": 80, "targetPort": 80}]}}


def _configmap(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cfg-{i}", "namespace": f"team-{i % 20}"},
            "data": {f"key{j}": f"value {j}" for j in range(6)}}


def generate(repo: Path, objects: int) -> str:
    init_repo(repo)
    makers = (_deployment, _service, _configmap)
    i = 0
    n_file = 0
    while i < objects:
        docs = 3 if n_file % 10 == 0 else 1
        objs = [makers[(i + k) % 3](i + k) for k in range(min(docs, objects - i))]
        target = repo / f"team-{n_file % 50}" / f"obj-{n_file}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump_all(objs, sort_keys=False))
        i += len(objs)
        n_file += 1
    return commit_all(repo, "generated")


def _phase(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, run in its own process."""
    from gitkube.manifests import ParseCache, load, pool

    tree = GitTree(Path(args.repo))
    if args.phase == "csafe":
        contents = list(tree.read(f.blob for f in tree.files(args.commit)).values())
        start = time.perf_counter()
        docs = sum(1 for data in contents for doc in yaml.load_all(data, Loader=yaml.CSafeLoader) if doc)
        return {"seconds": time.perf_counter() - start, "documents": docs}
    if args.phase == "cold-inline":
        pool.MIN_BYTES = 1 << 62
    cache = ParseCache(Path(args.cache) if args.cache else None)
    start = time.perf_counter()
    out = load(tree, args.commit, cache=cache)
    seconds = time.perf_counter() - start
    cache.save()
    return {"seconds": seconds, "objects": len(out), "cache_hits": cache.hits, "cache_misses": cache.misses}


def _run(phase: str, repo: Path, commit: str, cache: Path | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--repo", str(repo), "--commit", commit]
    if cache is not None:
        cmd += ["--cache", str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--phase")
    parser.add_argument("--repo")
    parser.add_argument("--commit")
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_phase(args)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-manifests-") as tmp:
        repo = Path(tmp) / "repo"
        commit = generate(repo, args.objects)
        cache = Path(tmp) / "parse.cache"
        csafe = _run("csafe", repo, commit, None)
        inline = _run("cold-inline", repo, commit, None)
        cold = _run("cold", repo, commit, cache)
        warm = _run("warm", repo, commit, cache)
        changed = repo / "team-7" / "obj-7.yaml"
        changed.write_text(changed.read_text() + "# changed\n")
        one = _run("one", repo, commit_all(repo, "one change"), cache)
        result = {
            "objects": cold["objects"],
            "files": len(GitTree(repo).files(commit)),
            "csafeloader_parse_s": round(csafe["seconds"], 3),
            "cold_load_s": round(cold["seconds"], 3),
            "cold_load_inline_s": round(inline["seconds"], 3),
            "warm_load_s": round(warm["seconds"], 3),
            "warm_cache_hits": warm["cache_hits"],
            "one_changed_file_load_s": round(one["seconds"], 3),
            "one_changed_file_misses": one["cache_misses"],
            "cache_file_bytes": cache.stat().st_size,
            "cold_over_csafeloader": round(cold["seconds"] / csafe["seconds"], 2),
            "cold_inline_over_csafeloader": round(inline["seconds"] / csafe["seconds"], 2),
            "goals": {"cold_over_csafeloader": 1.5, "warm_load_s": 0.5},
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
