"""Serve git's smart HTTP protocol by running ``git http-backend`` as a CGI inside aiohttp.

The API server's ``/git/...`` route authenticates the caller (a token as the Basic password,
see :func:`parse_basic_auth`) and then hands the request to :func:`serve`. Nothing is buffered:
the request body (a push can be large) is piped to the CGI's stdin as it arrives, and its stdout
is passed back as it is produced, so the sideband output of the pre- and post-receive hooks
reaches the pusher's terminal live.

Request bodies that git gzips (fetch negotiation) are handled whichever way the aiohttp server
is configured: if aiohttp already inflated the body (its default), the CGI gets the plain bytes;
if not, ``HTTP_CONTENT_ENCODING=gzip`` tells ``git http-backend`` to inflate them itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from gitkube.gitsource.gitcmd import last_lines

__all__ = ["parse_basic_auth", "serve"]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_MAX_HEADER = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_CGI_VARS = frozenset({
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "PATH_INFO", "PATH_TRANSLATED",
    "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_USER", "REQUEST_METHOD", "SCRIPT_NAME",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
})
_KEEP_GIT_VARS = ("GIT_CONFIG", "GIT_EXEC_PATH", "GIT_TRACE")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"})


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic ...`` value, None if absent or malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def _safe_path_info(path_info: str) -> bool:
    return (path_info.startswith("/") and "\x00" not in path_info
            and all(part not in ("..", ".") for part in path_info.split("/")))


def _base_env() -> dict[str, str]:
    """Our environment without anything that would confuse the CGI or point git elsewhere."""
    env = {}
    for key, value in os.environ.items():
        if key in _CGI_VARS or key.startswith("HTTP_"):
            continue
        if key.startswith("GIT_") and not key.startswith(_KEEP_GIT_VARS):
            continue
        env[key] = value
    return env


async def serve(
    request: web.Request,
    *,
    project_root: Path,
    path_info: str,
    remote_user: str,
    extra_env: Mapping[str, str] = {},  # noqa: B006 - read only
) -> web.StreamResponse:
    """Answer ``request`` with ``git http-backend`` for ``path_info`` (e.g. ``/repo.git/info/refs``)
    below ``project_root``; ``remote_user`` is the authenticated user (it names the pusher in the
    reflog). ``extra_env`` is added to the CGI (and so the hooks') environment."""
    if not _safe_path_info(path_info):
        raise web.HTTPNotFound(text="not a git path\n")
    first = b""
    if request.body_exists:
        first = await request.content.readany()
    env = _base_env()
    env.update({
        "GIT_PROJECT_ROOT": str(Path(project_root).absolute()),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path_info,
        "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_USER": remote_user,
        "REMOTE_ADDR": request.remote or "",
    })
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip") and not first.startswith(_GZIP_MAGIC):
        # aiohttp inflated the body already (git bodies are pkt-lines: they never start with the
        # gzip magic), and the length header describes the gzip bytes: send neither to the CGI.
        pass
    else:
        if encoding:
            env["HTTP_CONTENT_ENCODING"] = encoding
        if request.content_length is not None:
            env["CONTENT_LENGTH"] = str(request.content_length)
    if "Git-Protocol" in request.headers:
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    env.update(extra_env)

    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env=env, cwd=str(project_root),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    feeder = asyncio.create_task(_feed(request, proc, first))
    errors = asyncio.create_task(_collect_stderr(proc))
    try:
        response = await _respond(request, proc)
    except BaseException:
        feeder.cancel()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        raise
    finally:
        await asyncio.gather(feeder, return_exceptions=True)
        stderr = await errors
    if await proc.wait() != 0:
        log.warning("git http-backend %s %s exited %s: %s", request.method, path_info, proc.returncode,
                    last_lines(stderr))
    elif stderr.strip():
        log.info("git http-backend %s %s: %s", request.method, path_info, last_lines(stderr))
    return response


async def _feed(request: web.Request, proc: asyncio.subprocess.Process, first: bytes) -> None:
    """Copy the request body to the CGI's stdin, then close it (EOF ends an unsized body)."""
    stdin = proc.stdin
    assert stdin is not None
    try:
        chunk = first
        while chunk:
            stdin.write(chunk)
            await stdin.drain()
            chunk = await request.content.readany()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the CGI answered without reading everything (e.g. an error status)
    except Exception as exc:  # the client went away mid-body: git sees a short body and fails
        log.info("request body of %s %s cut short: %r", request.method, request.path, exc)
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.close()
            await stdin.wait_closed()


async def _collect_stderr(proc: asyncio.subprocess.Process) -> bytes:
    assert proc.stderr is not None
    return await proc.stderr.read()


async def _respond(request: web.Request, proc: asyncio.subprocess.Process) -> web.StreamResponse:
    """Parse the CGI header block, then stream the rest of stdout to the client."""
    stdout = proc.stdout
    assert stdout is not None
    status, reason = 200, "OK"
    headers: list[tuple[str, str]] = []
    size = 0
    while True:
        line = await stdout.readline()
        size += len(line)
        if not line:
            raise web.HTTPBadGateway(text="git http-backend ended without a response\n")
        if size > _MAX_HEADER:
            raise web.HTTPBadGateway(text="git http-backend sent an oversized header block\n")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            break
        name, _, value = text.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            code, _, reason = value.partition(" ")
            status = int(code) if code.isdigit() else 500
        elif name.lower() not in _HOP_BY_HOP:
            headers.append((name, value))
    response = web.StreamResponse(status=status, reason=reason or None)
    for name, value in headers:
        response.headers.add(name, value)
    await response.prepare(request)
    client_gone = False
    while chunk := await stdout.read(_CHUNK):
        if client_gone:
            continue  # keep draining: a push whose pusher left still finishes its hooks
        try:
            await response.write(chunk)
        except ConnectionResetError:
            client_gone = True
            log.info("client of %s %s went away; letting git finish", request.method, request.path)
    if not client_gone:
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
    return response
