"""From a commit to a checked plan: load manifests, read live state, plan, pre-flight.

``prepare`` is the one pipeline behind ``gitkube diff``, ``gitkube apply``, the pre-receive hook
and the daemon: the same commit always gives the same plan whichever path asks. Pre-flight here is
the local checks of ``gitkube.manifests`` (YAML, strict schema, names, duplicates), the planner's
own refusals (an empty desired set that would prune everything) and a server-side dry run of every
create and update (the server's validation and admission, without writing). Nothing is applied
when any of them refuses: :class:`Prepared.problems` is then non-empty.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube import errors, manifests
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.gitsource.repo import CommitInfo, GitRepo
from gitkube.manifests import Manifest, ParseCache, agekey, load, sops
from gitkube.manifests.select import KUSTOMIZATION_FILES
from gitkube.plan import Change, Desired, Plan, make_plan, referenced, stamp, with_config_checksums
from gitkube.plan.capacity import CapacityReport
from gitkube.plan.order import sync_wave
from gitkube.sync import applier
from gitkube.sync.releases import EngineState, ReleaseLog
from gitkube.sync.resources import read_live

from . import capacity, policies

__all__ = ["ENGINE_CONFIG", "Decrypt", "Preflight", "Prepared", "RepoTree", "decryptor", "desired_of", "load_desired", "preflight",
           "guard_rails", "prepare", "read_engine_config"]


class RepoTree:
    """The manifests loader's view of a repository: files, blobs and, for kustomize, an export."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo

    def files(self, commit: str, subpath: str = "") -> list[manifests.TreeFile]:
        return list(self.repo.files(commit, subpath))

    def read(self, blobs: Iterable[str]) -> dict[str, bytes]:
        return self.repo.read(blobs)

    def export(self, commit: str, subpath: str, dest: Path) -> None:
        args = ["git", "archive", "--format=tar", commit]
        if subpath:
            args += ["--", subpath]
        with tempfile.TemporaryFile() as tar:
            proc = subprocess.run(args, cwd=self.repo.path, stdout=tar, stderr=subprocess.PIPE, check=False)
            if proc.returncode != 0:
                raise errors.SourceError(f"git archive {commit[:12]} {subpath}: "
                                         f"{proc.stderr.decode(errors='replace').strip()}")
            tar.seek(0)
            with tarfile.open(fileobj=tar) as archive:
                archive.extractall(dest, filter="data")


@dataclass
class Prepared:
    commit: CommitInfo
    manifests: list[Manifest]
    plan: Plan
    state: EngineState
    problems: list[str] = field(default_factory=list)
    items: list[Desired] = field(default_factory=list)  # what was planned: manifests + config checksums
    capacity: CapacityReport = field(default_factory=CapacityReport)  # quota at the peak, pod fit

    @property
    def desired(self) -> dict[ObjectKey, Desired]:
        return {ObjectKey.of(d.obj): d for d in self.items}


def desired_of(manifests: list[Manifest]) -> list[Desired]:
    """The objects a commit asks for: its manifests, workloads stamped with the checksum of the
    ConfigMaps and Secrets they use (so a config change rolls them)."""
    return with_config_checksums([Desired(m.obj, str(m.source)) for m in manifests])


Decrypt = Callable[[str, bytes], bytes]


ENGINE_CONFIG = "engine.json"  # DATA/engine.json: the daemon's settings the hooks and the CLI read


def read_engine_config(data_dir: Path) -> dict[str, Any]:
    """``DATA/engine.json`` as the daemon wrote it; defaults when there is none."""
    try:
        return dict(json.loads((data_dir / ENGINE_CONFIG).read_text()))
    except (OSError, ValueError):
        return {"branch": "main", "path": ""}


def decryptor(data_dir: Path | None, extra: Iterable[str | Path] = ()) -> Decrypt | None:
    """What decrypts ``*.sops.yaml`` files: the control plane's age identity (``DATA/age.key``),
    the identity files the daemon was started with (``--age-key``, kept in ``DATA/engine.json`` as
    ``age_keys``), ``extra`` and ``$SOPS_AGE_KEY_FILE``; None when there is none (such files are
    then refused with a clear message)."""
    configured: list[str | Path] = list(extra)
    if data_dir is not None:
        configured.extend(str(p) for p in read_engine_config(data_dir).get("age_keys", []) if isinstance(p, str))
    identities = agekey.load_identities(data_dir, agekey.extra_key_files(configured))
    return sops.Decryptor(identities) if identities else None


def load_desired(repo: GitRepo, commit: str, *, path: str = "", cache: ParseCache | None = None,
                 kustomize: str | None = None, decrypt: Decrypt | None = None) -> list[Manifest]:
    return load(RepoTree(repo), commit, path=path, cache=cache, kustomize=kustomize, decrypt=decrypt)


async def guard_rails(client: Client, plan: Plan) -> CapacityReport:
    """The checks beyond the server's dry run: quota at the rollout peak, pod fit on the nodes
    (:mod:`.capacity`) and the commit's own policies (:mod:`.policies`), in one report."""
    report, (denied, warned) = await asyncio.gather(capacity.check(client, plan), policies.check(client, plan))
    report.problems += denied
    report.warnings += warned
    return report


async def prepare(repo: GitRepo, rev: str, client: Client, *, path: str = "", cache: ParseCache | None = None,
                  kustomize: str | None = None, allow_empty: bool = False, server_dry_run: bool = True,
                  log: ReleaseLog | None = None, decrypt: Decrypt | None = None) -> Prepared:
    """Plan ``rev`` against the live state. Raises ``ManifestError`` (a ``Rejected``) for bad
    manifests and ``SourceError`` for git problems; other refusals land in ``problems``."""
    commit = repo.resolve(rev)
    manifests = await asyncio.to_thread(load_desired, repo, commit.sha, path=path, cache=cache, kustomize=kustomize,
                                        decrypt=decrypt)
    if cache is not None:
        await asyncio.to_thread(cache.save)
    state = await (log or ReleaseLog(client)).state()
    desired = desired_of(manifests)
    keys = {m.key for m in manifests} | state.inventory
    live = await read_live(client, keys)
    plan = make_plan(desired, live, state.inventory if state.commit or state.inventory else None,
                     allow_empty=allow_empty)
    problems = list(plan.problems)
    report = CapacityReport()
    if server_dry_run and not problems:
        problems += await applier.dry_run(client, plan.changes)
        report = await guard_rails(client, plan)
        problems += report.problems
    return Prepared(commit, manifests, plan, state, problems, desired, report)


@dataclass
class Preflight:
    commit: CommitInfo
    manifests: list[Manifest]
    checked: int                      # objects dry-run against the server
    problems: list[str] = field(default_factory=list)
    capacity: CapacityReport = field(default_factory=CapacityReport)


async def preflight(repo: GitRepo, rev: str, client: Client, *, path: str = "", cache: ParseCache | None = None,
                    kustomize: str | None = None, allow_empty: bool = False,
                    log: ReleaseLog | None = None, decrypt: Decrypt | None = None) -> Preflight:
    """The pre-receive hook's check: what would make the sync of ``rev`` refuse, without planning.

    Every manifest is loaded and validated; the objects of files changed since the commit last
    applied (all of them on a first push, and every kustomize-rendered one) are dry-run against the
    server and, planned against their live state with the objects the commit drops, go through the
    quota, fit and policy checks of :func:`guard_rails`; the planner's own refusals (invalid sync
    waves, an empty desired set) are checked on the whole set. Unlike :func:`prepare` it reads no
    other live objects, so a push to a large repository is not held up by a full plan - the daemon
    makes that plan right after.
    Raises ``ManifestError`` for bad manifests, ``SourceError`` for git problems."""
    commit = repo.resolve(rev)
    manifests = await asyncio.to_thread(load_desired, repo, commit.sha, path=path, cache=cache, kustomize=kustomize,
                                        decrypt=decrypt)
    if cache is not None:
        await asyncio.to_thread(cache.save)
    state = await (log or ReleaseLog(client)).state()
    problems: list[str] = []
    for m in manifests:
        _, wave_problem = sync_wave(m.obj)
        if wave_problem:
            problems.append(f"{m.source}: {m.key}: {wave_problem}")
    if not manifests and state.inventory and not allow_empty:
        problems.append(f"the desired set is empty: refusing to prune {len(state.inventory)} objects "
                        "(pass --allow-empty to delete them)")
    changed: set[str] | None = None
    if state.commit:
        try:
            changed = await asyncio.to_thread(repo.changed_paths, state.commit, commit.sha)
        except errors.SourceError:
            changed = None  # the applied commit is not in this repository: check everything
    todo = [m for m in manifests if changed is None or m.source.file in changed
            or posixpath.basename(m.source.file) in KUSTOMIZATION_FILES]
    touched = {m.key for m in todo}
    todo_keys = touched | {m.key for m in manifests if referenced(m.obj) & touched}
    planned = {ObjectKey.of(d.obj): d for d in desired_of(manifests)}
    gone = {k for k in state.inventory if k not in planned}
    # one read of the touched objects and the ones the commit drops: it tells the dry run which
    # Namespaces are new, and the quota/fit check what is live
    live = await read_live(client, todo_keys | gone)
    changes = [Change(k, "create" if k.kind == "Namespace" and k not in live else "update", 0,
                      stamp(planned[k].obj, planned[k].source), None, [], "", planned[k].source)
               for k in sorted(todo_keys)]
    report = CapacityReport()
    if not problems:
        problems += await applier.dry_run(client, changes)
        # quota and fit: a plan of just the touched objects against their live state
        partial = make_plan([planned[k] for k in sorted(todo_keys)], {k: v for k, v in live.items() if k in todo_keys},
                            None, allow_empty=True)
        partial.prune = [Change(k, "delete", 0, None, live[k], [], "", None) for k in sorted(gone & live.keys())]
        report = await guard_rails(client, partial)
        problems += report.problems
    return Preflight(commit, manifests, len(changes), problems, report)
