"""The daemon's fast path for a commit that touched a few files: plan only what changed.

A full plan of a large repository re-reads every file's parsed objects, lists every live object
and compares all of them (about a second for 10,000 objects). After a sync the daemon already
knows most of that: the objects of each file by its blob sha (a :class:`Baseline`), and, through
the drift watch, which live objects are still in sync with them. So for a new commit:

1. list the tree (``git ls-tree``) and find the manifest files whose blob changed or went away;
2. load only those files (the same loader, validation and cache), keep the objects of the others,
   and check duplicates across both;
3. plan with ``assume_unchanged`` = the objects of untouched files that the drift watch has
   compared with their live version since it last changed: only the rest are read from the API
   and compared; prune works on the whole desired set as always.

The result is the same plan a full ``prepare`` gives (a test checks this); anything unusual -
kustomize directories, ``.gitkubeignore`` files, symlinks, more than :data:`MAX_CHANGED` changed
files, no baseline yet - returns None and the caller does the full pipeline.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gitkube import errors, manifests
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.gitsource.repo import GitRepo, TreeFile
from gitkube.manifests import Manifest, ParseCache, load
from gitkube.plan import make_plan, referenced
from gitkube.plan.capacity import CapacityReport
from gitkube.sync import applier
from gitkube.sync.releases import EngineState
from gitkube.sync.resources import read_live

from .pipeline import Decrypt, Prepared, RepoTree, desired_of, guard_rails

__all__ = ["MAX_CHANGED", "Baseline", "baseline_of", "prepare_incremental"]

MAX_CHANGED = 200
_SPECIAL = ("kustomization.yaml", "kustomization.yml", "Kustomization", ".gitkubeignore")


@dataclass
class Baseline:
    """What the daemon knows of the last commit it planned: per manifest file, its blob and objects."""

    path: str
    blobs: dict[str, str]
    objects: dict[str, list[Manifest]]


def _is_manifest(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def _plain(files: Iterable[TreeFile]) -> bool:
    return all(f.mode != "120000" and posixpath.basename(f.path) not in _SPECIAL for f in files)


def baseline_of(path: str, files: list[TreeFile], manifests: list[Manifest]) -> Baseline | None:
    """A baseline from a full load (None when the tree is not plain enough to update file by file)."""
    if not _plain(files):
        return None
    objects: dict[str, list[Manifest]] = {}
    for m in manifests:
        objects.setdefault(m.source.file, []).append(m)
    return Baseline(path, {f.path: f.blob for f in files if _is_manifest(f.path)}, objects)


class _Subset(RepoTree):
    """The loader's view of only some files of a commit."""

    def __init__(self, repo: GitRepo, files: list[TreeFile]) -> None:
        super().__init__(repo)
        self._files = files

    def files(self, commit: str, subpath: str = "") -> list[manifests.TreeFile]:
        return list(self._files)


def _load_changed(repo: GitRepo, commit: str, base: Baseline, files: list[TreeFile],
                  cache: ParseCache | None, decrypt: Decrypt | None) -> tuple[list[Manifest], set[str]] | None:
    """The objects of the new commit and the set of files that changed (None: not incremental)."""
    if not _plain(files):
        return None
    blobs = {f.path: f.blob for f in files if _is_manifest(f.path)}
    changed = [f for f in files if f.path in blobs and base.blobs.get(f.path) != f.blob]
    removed = {p for p in base.blobs if p not in blobs}
    if len(changed) + len(removed) > MAX_CHANGED:
        return None
    fresh = load(_Subset(repo, changed), commit, path=base.path, cache=cache, decrypt=decrypt) if changed else []
    touched = {f.path for f in changed} | removed
    kept: dict[ObjectKey, Manifest] = {}
    for file, objects in base.objects.items():
        if file not in touched:
            for m in objects:
                kept[m.key] = m
    problems = [f"{m.source}: {m.key} is also defined at {kept[m.key].source}" for m in fresh if m.key in kept]
    if problems:
        raise errors.ManifestError(sorted(problems))
    manifests = sorted([*kept.values(), *fresh], key=lambda m: (m.source.file, m.source.doc, m.source.line))
    base.blobs, base.objects = blobs, {}
    for m in manifests:
        base.objects.setdefault(m.source.file, []).append(m)
    return manifests, touched


async def prepare_incremental(repo: GitRepo, sha: str, client: Client, base: Baseline, state: EngineState, *,
                              in_sync: Callable[[ObjectKey], bool], cache: ParseCache | None,
                              allow_empty: bool, decrypt: Decrypt | None = None
                              ) -> tuple[Prepared, set[ObjectKey]] | None:
    """The plan of ``sha`` from ``base`` (updated in place), and the keys whose desired object
    changed; None when only the full pipeline can plan this commit."""
    commit = repo.resolve(sha)
    files = await asyncio.to_thread(repo.files, commit.sha, base.path)
    previous = {file: [m.key for m in objects] for file, objects in base.objects.items()}
    result = await asyncio.to_thread(_load_changed, repo, commit.sha, base, files, cache, decrypt)
    if result is None:
        return None
    manifests, touched = result
    affected = {k for file in touched for k in previous.get(file, ())}
    affected |= {m.key for file in touched for m in base.objects.get(file, ())}
    # a workload whose ConfigMaps or Secrets changed gets a new config checksum: it changed too
    affected |= {m.key for m in manifests if referenced(m.obj) & affected}
    desired = desired_of(manifests)
    keys = {m.key for m in manifests}
    assumed = {k for k in keys if k not in affected and in_sync(k)}
    live = await read_live(client, (keys - assumed) | (state.inventory - keys))
    inventory = state.inventory if state.commit or state.inventory else None
    plan = make_plan(desired, live, inventory, allow_empty=allow_empty, assume_unchanged=assumed)
    problems = list(plan.problems)
    report = CapacityReport()
    if not problems:
        problems += await applier.dry_run(client, plan.changes)
        report = await guard_rails(client, plan)
        problems += report.problems
    return Prepared(commit, manifests, plan, state, problems, desired, report), affected
