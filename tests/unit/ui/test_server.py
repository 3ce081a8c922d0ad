"""The dashboard's handler through aiohttp's test client: login, sessions, CSRF, roles, pages.

The engine is a small stand-in with the attributes the pages read (status, release log, the
repository - a real git repository made with the git CLI); the cluster client points nowhere, so
only pages that do not need the cluster are exercised here (the e2e test covers the rest).
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gitkube import errors
from gitkube.client import Client, HTTPTransport
from gitkube.engine.daemon import EngineSettings
from gitkube.gitsource.repo import GitRepo
from gitkube.sync.progress import ProgressLog
from gitkube.sync.releases import EngineState, Release
from gitkube.ui import Dashboard
from gitkube.ui.sessions import COOKIE
from gitkube.ui.sse import format_event


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Releases:
    def __init__(self, rows: list[Release]) -> None:
        self.rows = rows

    async def entries(self, limit: int | None = None) -> list[Release]:
        return self.rows[:limit] if limit else list(self.rows)


class Source:
    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self.branch = "main"
        self.description = str(repo.path)

    def head(self) -> str:
        return self.repo.branch_head("main") or ""


class FakeEngine:
    def __init__(self, repo: GitRepo, commits: list[str]) -> None:
        self.source = Source(repo)
        self.settings = EngineSettings()
        self.state = EngineState(commit=commits[-1], healthy=commits[-1])
        self.desired: dict[Any, Any] = {}
        self.client: Any = None
        self.releases = Releases([Release(2, commits[1], "Ada", "second", "push", outcome="Synced"),
                                  Release(1, commits[0], "Ada", "first", "push", outcome="Synced")])
        self.rollbacks: list[str | None] = []

    def status(self) -> dict[str, Any]:
        return {"source": self.source.description, "branch": "main", "path": "", "head": self.state.commit,
                "commit": self.state.commit, "healthy": self.state.healthy, "held": "", "syncState": "Synced",
                "message": "synced", "objects": 0}

    async def rollback(self, rev: str | None) -> ProgressLog:
        self.rollbacks.append(rev)
        return ProgressLog(rev or "")


def authenticate(header: str | None) -> bool:
    if header == "Bearer admin-token":
        return True
    if header == "Bearer ro-token":
        return False
    raise errors.Unauthorized("Unauthorized")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "ada@example.com")
    git(tmp_path, "config", "user.name", "Ada Lovelace")
    commits = []
    for subject in ("first commit", "second <b>commit</b>"):
        (tmp_path / "a.yaml").write_text(subject)
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-q", "-m", subject)
        commits.append(git(tmp_path, "rev-parse", "HEAD"))
    return GitRepo(tmp_path), commits


@pytest.fixture
async def setup(repo: tuple[GitRepo, list[str]]) -> AsyncIterator[tuple[TestClient[Any, Any], Dashboard, FakeEngine]]:
    engine = FakeEngine(*repo)
    client = Client(HTTPTransport("unix:///nonexistent/api.sock", "t"))
    dashboard = Dashboard(engine, client, authenticate)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_route("*", "/ui{tail:.*}", dashboard.handle)
    async with TestClient(TestServer(app)) as tc:
        yield tc, dashboard, engine
    await dashboard.cache.stop()
    await client.close()


def cookie(dashboard: Dashboard, *, admin: bool) -> tuple[dict[str, str], str]:
    s = dashboard.sessions.create(admin=admin)
    return {"Cookie": f"{COOKIE}={s.id}"}, s.csrf


async def test_pages_need_a_session(setup: Any) -> None:
    tc, _, _ = setup
    resp = await tc.get("/ui/history", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login?next=%2Fui%2Fhistory"
    assert (await tc.get("/ui/live/overview")).status == 401
    assert (await tc.post("/ui/rollback", data={"commit": "abcd"})).status == 401
    login = await tc.get("/ui/login")
    assert login.status == 200 and 'name="token"' in await login.text()
    assert "script-src 'self'" in login.headers["Content-Security-Policy"]


async def test_login_sets_a_strict_cookie_and_refuses_bad_tokens(setup: Any) -> None:
    tc, dashboard, _ = setup
    bad = await tc.post("/ui/login", data={"token": "wrong"}, allow_redirects=False)
    assert bad.status == 401 and "not valid" in await bad.text() and "Set-Cookie" not in bad.headers
    assert len(dashboard.sessions) == 0
    elsewhere = await tc.post("/ui/login", data={"token": "admin-token"}, headers={"Origin": "https://evil.example"},
                              allow_redirects=False)
    assert elsewhere.status == 403 and len(dashboard.sessions) == 0
    ok = await tc.post("/ui/login", data={"token": "admin-token", "next": "https://evil.example/"},
                       allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == "/ui/"
    set_cookie = ok.headers["Set-Cookie"]
    for part in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"):
        assert part in set_cookie
    assert "admin-token" not in set_cookie
    assert len(dashboard.sessions) == 1


async def test_overview_renders_the_commit_escaped(setup: Any) -> None:
    tc, dashboard, engine = setup
    headers, _ = cookie(dashboard, admin=False)
    resp = await tc.get("/ui/", headers=headers)
    text = await resp.text()
    assert resp.status == 200, text
    assert engine.state.commit[:12] in text and "Ada Lovelace" in text
    assert "second &lt;b&gt;commit&lt;/b&gt;" in text and "<b>commit" not in text
    assert 'sse-connect="/ui/live/overview"' in text and "read-only" in text


async def test_history_shows_rollback_buttons_to_the_admin_only(setup: Any) -> None:
    tc, dashboard, engine = setup
    admin_headers, _ = cookie(dashboard, admin=True)
    ro_headers, _ = cookie(dashboard, admin=False)
    admin_page = await (await tc.get("/ui/history", headers=admin_headers)).text()
    ro_page = await (await tc.get("/ui/history", headers=ro_headers)).text()
    first = engine.releases.rows[1].commit
    assert admin_page.count('class="rollback"') == 1 and f'value="{first}"' in admin_page
    assert 'class="rollback"' not in ro_page and engine.state.commit[:12] in ro_page


async def test_rollback_checks_origin_csrf_and_role(setup: Any) -> None:
    tc, dashboard, engine = setup
    first = engine.releases.rows[1].commit
    ro_headers, ro_csrf = cookie(dashboard, admin=False)
    refused = await tc.post("/ui/rollback", data={"commit": first, "csrf": ro_csrf}, headers=ro_headers)
    assert refused.status == 403 and "read-only" in await refused.text()
    headers, csrf = cookie(dashboard, admin=True)
    assert (await tc.post("/ui/rollback", data={"commit": first}, headers=headers)).status == 403
    assert (await tc.post("/ui/rollback", data={"commit": first, "csrf": "x" + csrf}, headers=headers)).status == 403
    foreign = {**headers, "Origin": "https://evil.example"}
    assert (await tc.post("/ui/rollback", data={"commit": first, "csrf": csrf}, headers=foreign)).status == 403
    bad = await tc.post("/ui/rollback", data={"commit": "HEAD; rm", "csrf": csrf}, headers=headers)
    assert bad.status == 400
    assert engine.rollbacks == []
    own = {**headers, "Origin": f"http://{tc.host}:{tc.port}", "HX-Request": "true", "X-CSRF-Token": csrf}
    ok = await tc.post("/ui/rollback", data={"commit": first}, headers=own)
    text = await ok.text()
    assert ok.status == 200, text
    assert engine.rollbacks == [first]
    assert f'sse-connect="/ui/live/progress?commit={first}"' in text and 'sse-close="done"' in text
    assert "<html" not in text  # an htmx request gets the partial only


async def test_logout_ends_the_session(setup: Any) -> None:
    tc, dashboard, _ = setup
    headers, csrf = cookie(dashboard, admin=True)
    resp = await tc.post("/ui/logout", data={"csrf": csrf}, headers=headers, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    assert len(dashboard.sessions) == 0
    assert (await tc.get("/ui/", headers=headers, allow_redirects=False)).status == 303


async def test_static_files_and_unknown_pages(setup: Any) -> None:
    tc, dashboard, _ = setup
    js = await tc.get("/ui/static/htmx.min.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    assert (await js.text()).startswith("/*! htmx.org 2.")
    assert (await tc.get("/ui/static/sse.min.js")).status == 200
    assert (await tc.get("/ui/static/LICENSES.txt")).status == 200
    for bad in ("/ui/static/../server.py", "/ui/static/nope.js", "/ui/static/.hidden.js", "/ui/static/x/y.js"):
        assert (await tc.get(bad)).status == 404, bad
    headers, _ = cookie(dashboard, admin=True)
    missing = await tc.get("/ui/nowhere", headers=headers)
    assert missing.status == 404 and "no dashboard page" in await missing.text()


def test_sse_messages_carry_every_line() -> None:
    assert format_event("objects", "<p>a</p>\n<p>b</p>") == b"event: objects\ndata: <p>a</p>\ndata: <p>b</p>\n\n"
    assert format_event("done", "") == b"event: done\ndata: \n\n"
