"""The dashboard's HTTP handler: pages, partials, live streams, login, rollback.

Mounted by ``gitkube.app`` on the API server's HTTPS port under ``/ui/``
(``APIServer.mount("/ui/", dashboard.handle)``). Pages are Jinja2 templates rendered on the server;
htmx (vendored under ``static/``) swaps partials in, and its SSE extension receives the live ones
from ``/ui/live/...`` (see :mod:`gitkube.ui.sse`), so nothing reloads and the browser never polls.

Security: a token (admin or read-only) logs in through a form; the session cookie
(``gitkube_session``: HttpOnly, Secure, SameSite=Strict, path ``/ui``) holds only a random id
(:mod:`gitkube.ui.sessions`). Every page but the login form and the static files needs a session
(pages redirect to the login form, streams and POSTs answer 401). Every POST must come from this
origin (Origin, else Referer, against Host) and carry the session's CSRF token; the rollback needs
the admin role (403 otherwise, and read-only pages show no button). A Content-Security-Policy
allows scripts from ``/ui/static`` only. The read-only role never sees a Secret (see
:mod:`gitkube.ui.views`).

The cluster is read through a :class:`gitkube.client.Client` (the cache's watches, pod logs) and
the GitOps state through the :class:`gitkube.engine.daemon.Engine`, never the store.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from gitkube import errors
from gitkube.api import scheme
from gitkube.client import Client, path_for
from gitkube.engine.daemon import Engine

from . import tree, views
from .cache import ClusterCache
from .sessions import COOKIE, Session, SessionStore
from .sse import stream_lines, stream_partial

__all__ = ["Authenticate", "Dashboard"]

log = logging.getLogger(__name__)

Authenticate = Callable[[str | None], bool]  # "Bearer TOKEN" -> is admin; raises errors.Unauthorized
Handler = Callable[[web.Request, Session, re.Match[str]], Awaitable[web.StreamResponse]]

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain", ".svg": "image/svg+xml"}
NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
LOG_TAIL = "500"


def _security_headers(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")


class Dashboard:
    def __init__(self, engine: Engine, client: Client, authenticate: Authenticate, *, prefix: str = "/ui",
                 sessions: SessionStore | None = None) -> None:
        self.engine = engine
        self.client = client
        self.prefix = prefix.rstrip("/")
        self.sessions = sessions or SessionStore()
        self.cache = ClusterCache(client)
        self._authenticate = authenticate
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                       autoescape=True, undefined=jinja2.StrictUndefined,
                                       trim_blocks=True, lstrip_blocks=True)
        self._env.globals["prefix"] = self.prefix
        self._env.filters["urlquote"] = lambda s: quote(str(s), safe="")
        p = re.escape(self.prefix)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(rf"{p}/?"), self._overview),
            ("GET", re.compile(rf"{p}/history"), self._history),
            ("POST", re.compile(rf"{p}/rollback"), self._rollback),
            ("GET", re.compile(rf"{p}/plan"), self._plan),
            ("GET", re.compile(rf"{p}/plan/partial"), self._plan_partial),
            ("GET", re.compile(rf"{p}/objects"), self._objects),
            ("GET", re.compile(rf"{p}/events"), self._events),
            ("GET", re.compile(rf"{p}/logs/(?P<ns>{NAME})/(?P<pod>{NAME})"), self._logs),
            ("GET", re.compile(rf"{p}/live/overview"), self._live_overview),
            ("GET", re.compile(rf"{p}/live/history"), self._live_history),
            ("GET", re.compile(rf"{p}/live/objects"), self._live_objects),
            ("GET", re.compile(rf"{p}/live/events"), self._live_events),
            ("GET", re.compile(rf"{p}/live/logs/(?P<ns>{NAME})/(?P<pod>{NAME})"), self._live_logs),
            ("GET", re.compile(rf"{p}/live/progress"), self._live_progress),
            ("POST", re.compile(rf"{p}/logout"), self._logout),
        ]

    def routes(self) -> dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]:
        """Path prefix → handler, for ``APIServer.mount``."""
        return {f"{self.prefix}/": self.handle}

    async def run(self) -> None:
        """Keep the cluster cache (started on the first page view) until cancelled, then stop it."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.cache.stop()

    # -- dispatch -------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            response = await self._dispatch(request)
        except errors.APIError as exc:
            response = self._page("error.html", None, status=exc.code, message=str(exc))
        except errors.GitkubeError as exc:
            response = self._page("error.html", None, status=500, message=str(exc))
        if not response.prepared:
            _security_headers(response)
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(f"{self.prefix}/static/"):
            return self._static(path[len(self.prefix) + len("/static/"):])
        if path == f"{self.prefix}/login":
            if request.method == "POST":
                return await self._login(request)
            return self._page("login.html", None, error="", next=_safe_next(request.query.get("next", ""), self.prefix))
        session = self.sessions.get(request.cookies.get(COOKIE))
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if request.method != method:
                raise errors.MethodNotAllowed(f"{request.method} is not allowed on {path}")
            if session is None:
                return self._unauthenticated(request)
            if method == "POST":
                await self._check_post(request, session)
            self.cache.start()
            return await handler(request, session, match)
        raise errors.NotFound(f"no dashboard page at {path}")

    def _unauthenticated(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and "/live/" not in request.path and not request.headers.get("HX-Request"):
            return _redirect(f"{self.prefix}/login?next={quote(request.path_qs, safe='')}")
        response = web.Response(status=401, text="log in first\n")
        response.headers["HX-Redirect"] = f"{self.prefix}/login"
        return response

    async def _check_post(self, request: web.Request, session: Session) -> None:
        _check_origin(request)
        given = request.headers.get("X-CSRF-Token")
        if not given:
            form = await request.post()
            given = str(form.get("csrf") or "")
        if not session.csrf_ok(given):
            raise errors.Forbidden("the form's CSRF token is missing or stale: reload the page")

    # -- rendering ------------------------------------------------------------------------------

    def render(self, template: str, session: Session | None, **context: Any) -> str:
        return self._env.get_template(template).render(session=session, **context)

    def _page(self, template: str, session: Session | None, *, status: int = 200, **context: Any) -> web.Response:
        response = web.Response(text=self.render(template, session, **context), status=status,
                                content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    def _static(self, name: str) -> web.StreamResponse:
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
            raise errors.NotFound(f"no static file {name!r}")
        response = web.Response(body=path.read_bytes(), content_type=STATIC_TYPES[path.suffix])
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    # -- login ----------------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.StreamResponse:
        _check_origin(request)
        form = await request.post()
        token = str(form.get("token") or "").strip()
        target = _safe_next(str(form.get("next") or ""), self.prefix)
        try:
            admin = self._authenticate(f"Bearer {token}") if token else None
        except errors.Unauthorized:
            admin = None
        if admin is None:
            log.info("dashboard: a login with a wrong token from %s", request.remote)
            return self._page("login.html", None, status=401, error="That token is not valid here.", next=target)
        session = self.sessions.create(admin=admin)
        log.info("dashboard: %s session started from %s", session.role, request.remote)
        response = _redirect(target)
        response.set_cookie(COOKIE, session.id, path=self.prefix, httponly=True, secure=True, samesite="Strict",
                            max_age=int(self.sessions.ttl))
        return response

    async def _logout(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        self.sessions.delete(session.id)
        response = _redirect(f"{self.prefix}/login")
        response.del_cookie(COOKIE, path=self.prefix)
        return response

    # -- pages ----------------------------------------------------------------------------------

    async def _render_overview(self, session: Session) -> str:
        return self.render("_overview.html", session, o=await views.overview(self.engine, admin=session.admin))

    async def _overview(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        return self._page("overview.html", session, page="overview", body=await self._render_overview(session))

    async def _live_overview(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        await self.cache.wait_synced()
        return await stream_partial(request, self.cache, "overview", lambda: self._render_overview(session), tick=5.0)

    async def _render_history(self, session: Session) -> str:
        return self.render("_history.html", session, releases=await views.history(self.engine))

    async def _history(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        return self._page("history.html", session, page="history", body=await self._render_history(session))

    async def _live_history(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        await self.cache.wait_synced()
        return await stream_partial(request, self.cache, "history", lambda: self._render_history(session), tick=5.0)

    async def _rollback(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        if not session.admin:
            log.warning("dashboard: a read-only session tried a rollback")
            raise errors.Forbidden("the read-only token cannot roll back")
        form = await request.post()
        commit = str(form.get("commit") or "").strip()
        if commit and not re.fullmatch(r"[0-9a-f]{4,64}", commit):
            raise errors.BadRequest(f"{commit!r} is not a commit id")
        try:
            plog = await self.engine.rollback(commit or None)
        except (errors.SourceError, errors.SyncError) as exc:
            return self._page("_progress.html", session, status=409, commit="", error=str(exc))
        log.info("dashboard: rollback to %s started", plog.commit[:12])
        template = "_progress.html" if request.headers.get("HX-Request") else "rollback.html"
        return self._page(template, session, page="history", commit=plog.commit, error="")

    async def _live_progress(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        commit = request.query.get("commit", "")
        if not re.fullmatch(r"[0-9a-f]{4,64}", commit):
            raise errors.BadRequest("commit= must be a commit id")
        plog = await self.engine.wait_log(commit, 10)
        if plog is None:
            raise errors.NotFound(f"no sync of {commit[:12]} is known")
        outcome: dict[str, str] = {}

        async def lines() -> AsyncIterator[str]:
            async for event in plog.follow():
                if event.get("outcome"):
                    outcome["value"] = str(event["outcome"])
                yield self.render("_progress_line.html", session, event=event)

        def done() -> str:
            return self.render("_progress_done.html", session, outcome=outcome.get("value", "unknown"))

        return await stream_lines(request, lines(), "progress", done)

    async def _plan(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        return self._page("plan.html", session, page="plan")

    async def _plan_partial(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        return self._page("_plan.html", session, p=await views.plan(self.engine, admin=session.admin))

    def _namespace(self, request: web.Request) -> str:
        ns = request.query.get("ns", "")
        if ns and not re.fullmatch(NAME, ns):
            raise errors.BadRequest(f"{ns!r} is not a namespace name")
        return ns

    def _render_objects(self, session: Session, ns: str) -> str:
        return self.render("_objects.html", session, roots=tree.build(self.cache.snapshot(ns or None)))

    async def _objects(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        ns = self._namespace(request)
        await self.cache.wait_synced()
        return self._page("objects.html", session, page="objects", ns=ns, namespaces=views.namespaces(self.cache),
                          body=self._render_objects(session, ns))

    async def _live_objects(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        ns = self._namespace(request)
        await self.cache.wait_synced()

        async def render() -> str:
            return self._render_objects(session, ns)

        return await stream_partial(request, self.cache, "objects", render)

    def _render_events(self, session: Session, ns: str) -> str:
        return self.render("_events.html", session, events=views.events(self.cache, ns or None, admin=session.admin))

    async def _events(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        ns = self._namespace(request)
        await self.cache.wait_synced()
        return self._page("events.html", session, page="events", ns=ns, namespaces=views.namespaces(self.cache),
                          body=self._render_events(session, ns))

    async def _live_events(self, request: web.Request, session: Session, _m: re.Match[str]) -> web.StreamResponse:
        ns = self._namespace(request)
        await self.cache.wait_synced()

        async def render() -> str:
            return self._render_events(session, ns)

        return await stream_partial(request, self.cache, "events", render)

    async def _logs(self, request: web.Request, session: Session, m: re.Match[str]) -> web.StreamResponse:
        ns, name = m["ns"], m["pod"]
        pod = await self.client.get("pods", name, ns)
        containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()]
        container = request.query.get("container") or (containers[0] if containers else "")
        if container not in containers:
            raise errors.BadRequest(f"pod {ns}/{name} has no container {container!r}")
        return self._page("logs.html", session, page="objects", ns=ns, pod=name, containers=containers,
                          container=container, detail=tree.pod_detail(pod))

    async def _live_logs(self, request: web.Request, session: Session, m: re.Match[str]) -> web.StreamResponse:
        ns, name = m["ns"], m["pod"]
        query = {"follow": "true", "tailLines": LOG_TAIL}
        container = request.query.get("container", "")
        if container:
            if not re.fullmatch(NAME, container):
                raise errors.BadRequest(f"{container!r} is not a container name")
            query["container"] = container
        source = self.client.transport.stream_lines(path_for(_pods(), ns, name, "log"), query=query)

        async def lines() -> AsyncIterator[str]:
            async for raw in source:
                text = raw.decode(errors="replace").rstrip("\n")
                yield f'<div class="logline">{html.escape(text)}</div>'

        def done() -> str:
            return '<div class="logline end">(the container stopped; the stream ended)</div>'

        return await stream_lines(request, lines(), "line", done)


def _pods() -> scheme.ResourceInfo:
    info = scheme.resolve("pods")
    assert info is not None
    return info


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _check_origin(request: web.Request) -> None:
    """A POST must come from a page of this server: Origin (else Referer) names the Host."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return  # not a browser (browsers send Origin on every POST); the CSRF token still applies
    if urlsplit(source).netloc != request.host:
        raise errors.Forbidden("cross-origin request refused")


def _safe_next(target: str, prefix: str) -> str:
    """Only a path of the dashboard itself (no scheme, no host) may follow a login."""
    if target.startswith(f"{prefix}/") and not target.startswith("//") and "\\" not in target and "://" not in target:
        return target
    return f"{prefix}/"
