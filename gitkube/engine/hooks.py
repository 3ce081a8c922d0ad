"""The hosted repository's git hooks: refuse a bad push, then stream its rollout to the pusher.

``git receive-pack`` runs ``python -m gitkube hook --data-dir DATA pre-receive|post-receive``
(installed by ``gitkube.gitsource.hosted``); what they print reaches the pusher's terminal as
``remote:`` lines, over the file, ssh and smart HTTP transports alike.

- pre-receive checks the pushed commit of the tracked branch (its objects are still in git's
  quarantine, which the hook's environment points at) with ``pipeline.preflight``: every manifest
  validated, the objects of changed files dry-run against the server, the planner's refusals; it
  exits 1, refusing the whole push, when anything is rejected. With no daemon running it still
  runs the local checks (YAML, schema, duplicates).
- post-receive follows the daemon's sync of the new commit and prints the plan, the rollout and
  the outcome (Synced, or RolledBack and why).

The daemon writes ``DATA/engine.json`` (branch, path, ...) for the hooks to read.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from gitkube import errors
from gitkube.client import Client, from_kubeconfig
from gitkube.gitsource.repo import GitRepo
from gitkube.manifests import ParseCache
from gitkube.plan.render import render_capacity

from .pipeline import ENGINE_CONFIG, decryptor, load_desired, preflight, read_engine_config

__all__ = ["ENGINE_CONFIG", "run_hook", "write_engine_config"]

ZERO = "0" * 40


def write_engine_config(data_dir: Path, config: dict[str, Any]) -> None:
    path = data_dir / ENGINE_CONFIG
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _config(data_dir: Path) -> dict[str, Any]:
    return read_engine_config(data_dir)


def _updates(stdin: TextIO, branch: str) -> list[tuple[str, str]]:
    out = []
    for line in stdin:
        parts = line.split()
        if len(parts) == 3 and parts[2] == f"refs/heads/{branch}" and parts[1] != ZERO:
            out.append((parts[0], parts[1]))
    return out


def _say(out: TextIO, text: str) -> None:
    for line in text.rstrip("\n").splitlines() or [""]:
        out.write(f"gitkube: {line}\n")
    out.flush()


def cache_for(data_dir: Path) -> ParseCache:
    return ParseCache(data_dir / "cache" / "manifests.cache")


async def _pre_receive(data_dir: Path, new: str, config: dict[str, Any], out: TextIO) -> int:
    repo = GitRepo(Path(os.environ.get("GIT_DIR", ".")).resolve())
    cache = cache_for(data_dir)
    decrypt = decryptor(data_dir)
    kubeconfig = data_dir / "kubeconfig"
    client = Client(from_kubeconfig(kubeconfig, user_agent="gitkube-hook")) if kubeconfig.exists() else None
    try:
        if client is None:
            raise aiohttp.ClientConnectionError("no kubeconfig")
        checked = await preflight(repo, new, client, path=config.get("path", ""), cache=cache,
                                  kustomize=config.get("kustomize"), allow_empty=bool(config.get("allow_empty")),
                                  decrypt=decrypt)
    except errors.Rejected as exc:
        _say(out, f"push refused: {new[:12]} does not pass pre-flight:")
        _say(out, "\n".join(f"  {p}" for p in exc.problems))
        return 1
    except (aiohttp.ClientError, OSError, errors.APIError) as exc:
        # No daemon to plan against: the local checks still decide.
        try:
            manifests = await asyncio.to_thread(load_desired, repo, new, path=config.get("path", ""), cache=cache,
                                                kustomize=config.get("kustomize"), decrypt=decrypt)
        except errors.Rejected as rejected:
            _say(out, f"push refused: {new[:12]} does not pass pre-flight:")
            _say(out, "\n".join(f"  {p}" for p in rejected.problems))
            return 1
        _say(out, f"{len(manifests)} objects valid; the control plane is not reachable ({exc.__class__.__name__}), "
                  "so the plan is not checked against live state")
        return 0
    finally:
        if client is not None:
            await client.close()
    quota = render_capacity(checked.capacity, color=False)
    if checked.problems:
        _say(out, f"push refused: {new[:12]} does not pass pre-flight:")
        _say(out, "\n".join(f"  {p}" for p in checked.problems))
        if quota:
            _say(out, quota)
        return 1
    if quota:
        _say(out, quota)
    _say(out, f"pre-flight passed: {len(checked.manifests)} objects valid, {checked.checked} changed "
              "object(s) accepted by the server's dry run")
    return 0


async def _post_receive(data_dir: Path, new: str, config: dict[str, Any], out: TextIO) -> int:
    kubeconfig = data_dir / "kubeconfig"
    if not kubeconfig.exists():
        _say(out, f"the daemon is not running; `gitkube up` syncs {new[:12]} when it starts")
        return 0
    transport = from_kubeconfig(kubeconfig, user_agent="gitkube-hook")
    try:
        # A sync already running finishes first (at most its rollout timeout, twice with a rollback).
        wait = 2 * float(config.get("rollout_timeout") or 120) + 30
        async for line in transport.stream_lines("/gitkube/v1/follow", query={"commit": new, "wait": f"{wait:g}"}):
            event = json.loads(line)
            _say(out, str(event.get("message", "")))
    except (aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError, OSError) as exc:
        _say(out, f"lost the daemon's progress stream ({exc.__class__.__name__}); `gitkube status` and "
                  f"`gitkube history` show how the sync of {new[:12]} ends")
    except errors.APIError as exc:
        _say(out, f"cannot follow the sync of {new[:12]}: {exc}")
    finally:
        await transport.close()
    return 0


def run_hook(name: str, data_dir: Path, stdin: TextIO = sys.stdin, out: TextIO = sys.stderr) -> int:
    config = _config(data_dir)
    updates = _updates(stdin, str(config.get("branch", "main")))
    if not updates:
        return 0
    _, new = updates[-1]
    if name == "pre-receive":
        return asyncio.run(_pre_receive(data_dir, new, config, out))
    if name == "post-receive":
        return asyncio.run(_post_receive(data_dir, new, config, out))
    raise errors.ConfigError(f"unknown hook {name!r}")
