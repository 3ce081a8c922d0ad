"""The engine's HTTP endpoints, served by the daemon next to the Kubernetes API.

- ``GET  /gitkube/v1/status``             sync state, commit and per-object health (JSON)
- ``GET  /gitkube/v1/history``            the release log, newest first (JSON)
- ``GET  /gitkube/v1/follow?commit=SHA``  one sync's progress as NDJSON, live (post-receive hook)
- ``POST /gitkube/v1/sync``               sync now
- ``POST /gitkube/v1/rollback``           ``{"commit": REV?, "revert": bool}``; progress as NDJSON
- ``POST /api/webhook``                   fetch a remote source now (GitHub/GitLab/Gitea push hooks)
- ``/git/repo.git/...``                   the hosted repository over smart HTTP (``git http-backend``)

Every endpoint needs a token: a Bearer token, or for git the token as the Basic-auth password
(any user name). The read-only token can read status and history and fetch the repository; it
cannot push, sync or roll back. A webhook may instead sign its body with the admin token as the
HMAC secret (``X-Hub-Signature-256``). Mounted on the API server by ``gitkube.app``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gitkube import errors
from gitkube.gitsource import http_backend
from gitkube.sync.progress import ProgressLog
from gitkube.sync.waiter import check_many

from .daemon import Engine
from .revert import write_revert

__all__ = ["EngineHTTP"]

Authenticate = Callable[[str | None], bool]  # header -> is admin; raises errors.Unauthorized


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, indent=1).encode(), status=status, content_type="application/json")


class EngineHTTP:
    def __init__(self, engine: Engine, authenticate: Authenticate, admin_token: str, *,
                 hosted_root: Path | None) -> None:
        self.engine = engine
        self._authenticate = authenticate
        self._admin_token = admin_token
        self._hosted_root = hosted_root

    def routes(self) -> dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]:
        """Path prefix → handler, for ``APIServer.mount``."""
        return {"/gitkube/": self.handle_engine, "/api/webhook": self.handle_webhook, "/git/": self.handle_git}

    def _admin(self, request: web.Request) -> None:
        if not self._authenticate(request.headers.get("Authorization")):
            raise errors.Forbidden("the read-only token cannot do this")

    async def handle_engine(self, request: web.Request) -> web.StreamResponse:
        is_admin = self._authenticate(request.headers.get("Authorization"))
        path, method = request.path.rstrip("/"), request.method
        if path == "/gitkube/v1/status" and method == "GET":
            return _json(await self._status())
        if path == "/gitkube/v1/history" and method == "GET":
            limit = int(request.query.get("limit", "0") or 0)
            return _json([r.to_dict() for r in await self.engine.releases.entries(limit or None)])
        if path == "/gitkube/v1/follow" and method == "GET":
            commit = request.query.get("commit", "")
            wait = float(request.query.get("wait", "30"))
            plog = await self.engine.wait_log(commit, wait) if commit else None
            if plog is None:
                raise errors.NotFound(f"no sync of {commit[:12] or '?'} started within {wait:g}s")
            return await self._stream(request, plog)
        if not is_admin:
            raise errors.Forbidden("the read-only token cannot do this")
        if path == "/gitkube/v1/sync" and method == "POST":
            self.engine.trigger("manual")
            return _json({"status": "triggered"}, 202)
        if path == "/gitkube/v1/rollback" and method == "POST":
            body = await request.json() if request.can_read_body else {}
            return await self._rollback(request, str(body.get("commit") or ""), bool(body.get("revert")))
        raise errors.NotFound("the server could not find the requested resource")

    async def _status(self) -> dict[str, Any]:
        status = self.engine.status()
        keys = sorted(self.engine.desired)
        healths = await check_many(self.engine.client, keys)
        status["health"] = [{"object": str(k), "status": healths[k].status, "message": healths[k].message}
                            for k in keys]
        return status

    async def _rollback(self, request: web.Request, rev: str, revert: bool) -> web.StreamResponse:
        if revert:
            engine = self.engine
            target = rev or await self._previous_healthy()
            sha = await asyncio.to_thread(write_revert, engine.source.repo, target, branch=engine.source.branch,
                                          path=engine.settings.path, reason="Rolled back with gitkube rollback --revert.")
            engine.trigger("revert")
            plog = await engine.wait_log(sha, 30)
            if plog is None:
                raise errors.SyncError(f"the revert commit {sha[:12]} was written but no sync started")
            return await self._stream(request, plog, first={"type": "revert", "commit": sha,
                                                             "message": f"wrote revert commit {sha[:12]}"})
        return await self._stream(request, await self.engine.rollback(rev or None))

    async def _previous_healthy(self) -> str:
        current = self.engine.state.commit
        for release in await self.engine.releases.entries():
            if release.outcome == "Synced" and release.commit != current:
                return release.commit
        raise errors.SyncError("no earlier healthy release to roll back to")

    @staticmethod
    async def _stream(request: web.Request, plog: ProgressLog, first: dict[str, Any] | None = None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        if first:
            await response.write(json.dumps(first).encode() + b"\n")
        async for event in plog.follow():
            await response.write(json.dumps(event).encode() + b"\n")
        await response.write_eof()
        return response

    async def handle_webhook(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            raise errors.MethodNotAllowed("POST only")
        body = await request.read()
        signature = request.headers.get("X-Hub-Signature-256", "")
        if signature:
            want = "sha256=" + hmac.new(self._admin_token.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(signature, want):
                raise errors.Unauthorized("webhook signature does not match")
        else:
            self._admin(request)
        await self.engine.source.fetch_now()
        self.engine.trigger("webhook")
        return _json({"status": "fetched"}, 202)

    async def handle_git(self, request: web.Request) -> web.StreamResponse:
        if self._hosted_root is None or not request.path.startswith("/git/repo.git"):
            raise errors.NotFound("no hosted repository here (the daemon follows another source)")
        credentials = http_backend.parse_basic_auth(request.headers.get("Authorization"))
        if credentials is None:
            return web.Response(status=401, text="token required as the password\n",
                                headers={"WWW-Authenticate": 'Basic realm="gitkube"'})
        user, token = credentials
        try:
            is_admin = self._authenticate(f"Bearer {token}")
        except errors.Unauthorized:
            return web.Response(status=401, text="bad token\n", headers={"WWW-Authenticate": 'Basic realm="gitkube"'})
        pushing = request.query.get("service") == "git-receive-pack" or request.path.endswith("/git-receive-pack")
        if pushing and not is_admin:
            return web.Response(status=403, text="the read-only token cannot push\n")
        return await http_backend.serve(request, project_root=self._hosted_root,
                                        path_info=request.path[len("/git"):], remote_user=user or "gitkube")
