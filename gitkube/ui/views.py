"""What each dashboard page shows, gathered from the Engine and the cluster cache as plain dicts
for the templates.

- :func:`overview`: ``Engine.status()`` (what ``GET /gitkube/v1/status`` serves), the current
  commit's subject and author, the last release's outcome, and the health of every object of the
  applied commit (:func:`gitkube.sync.waiter.check_many`, exactly what ``gitkube status`` prints).
- :func:`history`: the release log (``/gitkube/v1/history``), with which records a rollback may
  target (a Synced commit other than the current one).
- :func:`plan`: the branch head planned against the cluster by
  :func:`gitkube.engine.pipeline.prepare`, the pipeline ``gitkube diff`` runs.
- :func:`events`: the cached Events, newest first.

Read-only sessions never get a Secret: health rows, plan changes and events about Secrets are
left out for them (the cache holds no Secret objects at all). Called by ``gitkube.ui.server``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gitkube import errors
from gitkube.api.objectkey import ObjectKey
from gitkube.engine.daemon import Engine
from gitkube.engine.pipeline import prepare
from gitkube.plan.render import totals_line
from gitkube.sync.waiter import check_many

from .cache import ClusterCache

__all__ = ["MAX_EVENTS", "commit_info", "events", "history", "namespaces", "overview", "plan"]

log = logging.getLogger(__name__)
MAX_EVENTS = 300


def _is_secret_key(key: ObjectKey) -> bool:
    return key.group == "" and key.kind == "Secret"



async def commit_info(engine: Engine, sha: str) -> dict[str, str]:
    """sha, subject, author and time of ``sha`` ({} when the repository cannot tell)."""
    if not sha:
        return {}
    try:
        info = await asyncio.to_thread(engine.source.repo.resolve, sha)
    except (errors.GitkubeError, OSError, ValueError) as exc:
        log.debug("cannot read commit %s: %s", sha[:12], exc)
        return {"sha": sha, "short": sha[:12], "subject": "", "author": "", "time": ""}
    return {"sha": info.sha, "short": info.sha[:12], "subject": info.summary, "author": info.author,
            "time": info.time}


async def overview(engine: Engine, *, admin: bool) -> dict[str, Any]:
    status = engine.status()
    keys = sorted(k for k in engine.desired if admin or not _is_secret_key(k))
    healths = await check_many(engine.client, keys) if keys else {}
    rows = [{"object": str(k), "kind": k.kind, "namespace": k.namespace, "name": k.name,
             "status": healths[k].status, "message": healths[k].message} for k in keys]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    latest = await engine.releases.entries(limit=1)
    return {
        "status": status,
        "commit": await commit_info(engine, status["commit"]),
        "head": await commit_info(engine, status["head"]) if status["head"] != status["commit"] else None,
        "last": latest[0].to_dict() if latest else None,
        "health": rows,
        "counts": counts,
        "drift": status["syncState"] == "OutOfSync",
        "self_heal": engine.settings.self_heal,
    }


async def history(engine: Engine, *, limit: int = 50) -> list[dict[str, Any]]:
    current = engine.state.commit
    out = []
    for release in await engine.releases.entries(limit):
        row = release.to_dict()
        row["short"] = release.commit[:12]
        row["current"] = release.commit == current
        row["can_rollback"] = release.outcome == "Synced" and release.commit != current
        row["summary_reason"] = release.reason.splitlines()[0] if release.reason else ""
        out.append(row)
    return out


async def plan(engine: Engine, *, admin: bool) -> dict[str, Any]:
    """The branch head against the live cluster, as ``gitkube diff`` computes it."""
    head = engine.source.head()
    if not head:
        return {"commit": {}, "changes": [], "problems": ["the branch has no commits yet"], "totals": "",
                "in_sync": False, "skipped": []}
    s = engine.settings
    try:
        prepared = await prepare(engine.source.repo, head, engine.client, path=s.path, cache=engine.cache,
                                 kustomize=s.kustomize, allow_empty=s.allow_empty, log=engine.releases,
                                 decrypt=s.decrypt)
    except errors.Rejected as exc:
        return {"commit": await commit_info(engine, head), "changes": [], "problems": list(exc.problems),
                "totals": "", "in_sync": False, "skipped": []}
    p = prepared.plan
    changes = []
    for change in [c for c in p.changes if c.action != "unchanged"] + list(p.prune):
        if _is_secret_key(change.key) and not admin:
            continue
        changes.append({"action": change.action, "object": str(change.key), "source": change.source or "",
                        "wave": change.wave, "diff": _diff_lines(change.diff)})
    return {"commit": await commit_info(engine, head), "changes": changes,
            "problems": [x for x in prepared.problems if admin or "Secret" not in x],
            "totals": totals_line(p), "in_sync": p.in_sync and not prepared.problems,
            "skipped": [{"object": str(k), "reason": why} for k, why in p.skipped_prune
                        if admin or not _is_secret_key(k)]}


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, text) per line of a unified diff."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            css = "hdr"
        elif line.startswith("+"):
            css = "add"
        elif line.startswith("-"):
            css = "del"
        elif line.startswith("@@"):
            css = "hunk"
        else:
            css = ""
        out.append((css, line))
    return out


def _event_time(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


def events(cache: ClusterCache, namespace: str | None, *, admin: bool, limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
    rows = []
    for event in cache.list("events", namespace):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "Secret" and not admin:
            continue
        rows.append({"time": _event_time(event), "namespace": (event.get("metadata") or {}).get("namespace") or "",
                     "type": event.get("type") or "Normal", "reason": event.get("reason") or "",
                     "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
                     "message": event.get("message") or "", "count": event.get("count") or 1,
                     "source": (event.get("source") or {}).get("component") or event.get("reportingComponent") or ""})
    rows.sort(key=lambda r: r["time"], reverse=True)
    return rows[:limit]


def namespaces(cache: ClusterCache) -> list[str]:
    return sorted(str((n.get("metadata") or {}).get("name") or "") for n in cache.list("namespaces"))
