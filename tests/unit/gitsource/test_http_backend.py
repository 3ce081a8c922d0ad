"""Smart HTTP: real ``git clone`` / ``git push`` against an aiohttp server that calls serve()."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from gitkube.gitsource.hosted import ensure_hosted_repo
from gitkube.gitsource.http_backend import parse_basic_auth, serve
from gitkube.gitsource.repo import GitRepo

from .gitkit import agit, commit, git, git_env, init_repo

TOKEN = "s3cret-token"


@dataclass
class Seen:
    method: str
    path: str
    encoding: str
    length: int | None


@dataclass
class GitServer:
    data: Path
    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    def repo_url(self, password: str = TOKEN) -> str:
        return self.url.replace("http://", f"http://pusher:{password}@") + "/git/repo.git"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        creds = parse_basic_auth(request.headers.get("Authorization"))
        if creds is None or creds[1] != TOKEN:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="gitkube"'})
        self.seen.append(Seen(request.method, request.path, request.headers.get("Content-Encoding", ""),
                              request.content_length))
        return await serve(request, project_root=self.data, path_info="/" + request.match_info["tail"],
                           remote_user=creds[0], extra_env={"GITKUBE_TEST_VAR": "from-extra-env"})

    async def raw(self, request: web.Request) -> web.StreamResponse:
        return await serve(request, project_root=self.data, path_info=request.query["p"], remote_user="x")


def _program(path: Path, body: str) -> list[str]:
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return [str(path)]


HOOK = ('echo "hello from hook $1 ($GITKUBE_TEST_VAR, $REMOTE_USER)" >&2\n'
        'while read old new ref; do echo "$1 got $ref" >&2; done\n'
        '[ "$1" = post-receive ] || exit 0\n'
        'echo started >&2\n'
        'i=0; while [ ! -e "$0.release" ] && [ $i -lt 150 ]; do sleep 0.05; i=$((i+1)); done\n'
        'if [ -e "$0.release" ]; then echo released >&2; else echo never released >&2; fi\n')


@pytest.fixture(params=[True, False], ids=["aiohttp-inflates", "git-inflates"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GitServer]:
    data = tmp_path / "data"
    ensure_hosted_repo(data, hook_argv=_program(tmp_path / "hook.sh", HOOK))
    srv = GitServer(data)
    app = web.Application()
    app.router.add_route("*", "/git/{tail:.*}", srv.handle)
    app.router.add_get("/raw", srv.raw)
    runner = web.AppRunner(app, auto_decompress=request.param)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    srv.url = f"http://127.0.0.1:{port}"
    yield srv
    await runner.cleanup()


async def _push_streaming(work: Path, url: str, release: Path) -> tuple[int, str]:
    """git push, creating ``release`` only once "remote: started" has reached our terminal: the
    post-receive hook waits for that file, so this passes only if its output streams live."""
    proc = await asyncio.create_subprocess_exec("git", "push", url, "main", cwd=work, env=git_env(),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    out = b""
    while chunk := await asyncio.wait_for(proc.stderr.read(4096), 30):
        out += chunk
        if b"remote: started" in out and not release.exists():
            release.write_text("go\n")
    await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_clone_push_and_live_hook_output(server: GitServer, tmp_path: Path) -> None:
    rc, out = await agit(tmp_path, "clone", server.repo_url(), "work")
    assert rc == 0, out
    work = tmp_path / "work"
    git(work, "checkout", "-q", "-b", "main")
    sha = commit(work, {"app/deploy.yaml": "kind: Deployment\n"}, "first push")
    rc, out = await _push_streaming(work, server.repo_url(), tmp_path / "hook.sh.release")
    assert rc == 0, out
    assert "remote: hello from hook pre-receive (from-extra-env, pusher)" in out
    assert "remote: pre-receive got refs/heads/main" in out
    assert "remote: hello from hook post-receive" in out
    assert "remote: released" in out and "never released" not in out
    hosted = GitRepo(server.data / "repo.git")
    assert hosted.branch_head("main") == sha

    rc, out = await agit(tmp_path, "clone", server.repo_url(), "again")
    assert rc == 0, out
    assert (tmp_path / "again" / "app" / "deploy.yaml").read_text() == "kind: Deployment\n"
    assert {s.path for s in server.seen} >= {"/git/repo.git/info/refs", "/git/repo.git/git-upload-pack",
                                             "/git/repo.git/git-receive-pack"}


async def test_refused_push_leaves_ref(server: GitServer, tmp_path: Path) -> None:
    work = init_repo(tmp_path / "work", {"a.yaml": "a: 1\n"})
    (tmp_path / "hook.sh.release").write_text("go\n")
    rc, out = await agit(work, "push", server.repo_url(), "main")
    assert rc == 0, out
    before = git(work, "rev-parse", "HEAD")
    ensure_hosted_repo(server.data, hook_argv=_program(
        tmp_path / "refuse.sh", '[ "$1" = pre-receive ] && { echo "refused: bad manifest" >&2; exit 1; }\n'))
    commit(work, {"a.yaml": "a: 2\n"}, "to be refused")
    rc, out = await agit(work, "push", server.repo_url(), "main")
    assert rc != 0
    assert "remote: refused: bad manifest" in out
    assert "pre-receive hook declined" in out
    assert GitRepo(server.data / "repo.git").branch_head("main") == before


async def test_large_chunked_push_and_gzipped_fetch(server: GitServer, tmp_path: Path) -> None:
    (tmp_path / "hook.sh.release").write_text("go\n")
    work = init_repo(tmp_path / "work", {"big.bin": os.urandom(3 * 1024 * 1024)})
    for i in range(40):  # many distinct wants: the fetch negotiation body exceeds 1 KiB, git gzips it
        commit(work, {"n.yaml": f"n: {i}\n"}, f"c{i}")
        git(work, "branch", f"b{i:02d}")
    rc, out = await agit(work, "push", server.repo_url(), "--all")
    assert rc == 0, out
    receive = [s for s in server.seen if s.method == "POST" and s.path.endswith("git-receive-pack")]
    assert any(s.length is None for s in receive), receive  # > http.postBuffer: chunked, no length
    hosted = GitRepo(server.data / "repo.git")
    assert hosted.branch_head("b39") == git(work, "rev-parse", "HEAD")
    big = next(f for f in hosted.files(hosted.branch_head("main") or "") if f.path == "big.bin")
    assert big.size == 3 * 1024 * 1024

    server.seen.clear()
    rc, out = await agit(tmp_path, "clone", "--no-checkout", server.repo_url(), "clone")
    assert rc == 0, out
    assert any(s.encoding == "gzip" for s in server.seen), server.seen
    branches = git(tmp_path / "clone", "branch", "-r").split()
    assert sum(1 for b in branches if b.startswith("origin/b")) == 40


async def test_errors_and_bad_paths(server: GitServer) -> None:
    async with ClientSession() as session:
        async with session.get(f"{server.url}/raw", params={"p": "/../data/repo.git/info/refs"}) as resp:
            assert resp.status == 404
        async with session.get(f"{server.url}/raw", params={"p": "/nope.git/info/refs"}) as resp:
            assert resp.status == 404  # http-backend's own "Status: 404" passed through
        async with session.get(f"{server.url}/raw",
                               params={"p": "/repo.git/info/refs", "service": "git-upload-pack"}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
            assert (await resp.read()).startswith(b"001e# service=git-upload-pack\n")


def test_parse_basic_auth() -> None:
    def basic(raw: bytes) -> str:
        return "Basic " + base64.b64encode(raw).decode()

    assert parse_basic_auth(basic(b"user:pa:ss")) == ("user", "pa:ss")
    assert parse_basic_auth("basic " + base64.b64encode(b":tok").decode()) == ("", "tok")
    assert parse_basic_auth(basic("jos\u00e9:p\u00e4ss".encode())) == ("jos\u00e9", "p\u00e4ss")
    assert parse_basic_auth(basic("jos\u00e9:x".encode("latin-1"))) == ("jos\u00e9", "x")
    for bad in (None, "", "Bearer abc", "Basic", "Basic !!!notbase64", basic(b"no-colon")):
        assert parse_basic_auth(bad) is None
