"""How a Client reaches an API server: HTTPS with a CA and a bearer token, or the daemon's
private Unix socket.

Both are real HTTP through aiohttp. Components inside ``gitkube up`` (controllers,
scheduler, node agent, proxy) use ``DATA/api.sock`` (mode 0600, so only the daemon's user
can connect) and skip TLS; a node agent on another process or machine uses HTTPS with the
kubeconfig's CA and token. Every request carries the token either way, so authorization
is the same. Non-2xx replies are turned back into the matching ``gitkube.errors`` class
from their Status body.

Called by ``gitkube.client.rest``.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gitkube import errors

__all__ = ["HTTPTransport", "Response", "from_kubeconfig"]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


_TIMEOUTS: dict[float, aiohttp.ClientTimeout] = {}


def _raise_for_status(status: int, body: bytes) -> None:
    if status < 400:
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        raise errors.from_status(parsed)
    raise errors.from_status({"code": status, "message": body.decode(errors="replace")[:500] or f"HTTP {status}"})


class HTTPTransport:
    """aiohttp session to one API server. ``base_url`` is ``https://host:port`` or
    ``unix:///path/api.sock``."""

    def __init__(self, base_url: str, token: str, *, ca_file: str | Path | None = None,
                 ca_data: bytes | None = None, user_agent: str = "gitkube") -> None:
        self.base_url = base_url
        self._token = token
        self._ca_file = ca_file
        self._ca_data = ca_data
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _connector(self) -> tuple[aiohttp.BaseConnector, str]:
        if self.base_url.startswith("unix://"):
            return aiohttp.UnixConnector(path=self.base_url[len("unix://"):], limit=256), "http://localhost"
        ctx = ssl.create_default_context(
            cafile=str(self._ca_file) if self._ca_file else None,
            cadata=self._ca_data.decode() if self._ca_data else None,
        )
        return aiohttp.TCPConnector(ssl=ctx, limit=256), self.base_url

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector, root = self._connector()
            self._session = aiohttp.ClientSession(
                root, connector=connector,
                headers={"Authorization": f"Bearer {self._token}", "User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = "application/json",
                      timeout: float = 60.0) -> Response:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        limit = _TIMEOUTS.get(timeout)
        if limit is None:
            limit = _TIMEOUTS[timeout] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self.session().request(method, path, params=query or None, data=body, headers=headers,
                                              timeout=limit) as resp:
                data = await resp.read()
                _raise_for_status(resp.status, data)
                # the reply's headers are immutable: kept as they are, not copied
                return Response(resp.status, data, resp.headers)
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"cannot reach the API server at {self.base_url}: {exc}") from exc

    async def stream_lines(self, path: str, *, query: Mapping[str, str] | None = None) -> AsyncIterator[bytes]:
        """GET a streaming response (watch, log follow) line by line."""
        try:
            async with self.session().get(path, params=dict(query or {}), headers={"Accept": "application/json"},
                                          timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
                if resp.status >= 400:
                    _raise_for_status(resp.status, await resp.read())
                async for line in resp.content:
                    if line.strip():
                        yield line
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"watch stream from {self.base_url} broke: {exc}") from exc


def from_kubeconfig(path: str | Path, *, user_agent: str = "gitkube") -> HTTPTransport:
    """A transport for the current context of a kubeconfig (token auth, CA data or file)."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(Path(path).read_text())
    if not isinstance(doc, dict):
        raise errors.ConfigError(f"{path}: not a kubeconfig")
    try:
        context_name = doc["current-context"]
        context = next(c["context"] for c in doc["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == context["user"])
    except (KeyError, StopIteration, TypeError) as exc:
        raise errors.ConfigError(f"{path}: incomplete kubeconfig ({exc})") from None
    token = user.get("token")
    if not token:
        raise errors.ConfigError(f"{path}: the user of context {context_name!r} has no token")
    ca_data = base64.b64decode(cluster["certificate-authority-data"]) if cluster.get("certificate-authority-data") else None
    return HTTPTransport(cluster["server"], token, ca_file=cluster.get("certificate-authority"), ca_data=ca_data,
                         user_agent=user_agent)
