"""Container probes: the checks (httpGet, tcpSocket, exec) and the timing loop.

``check`` runs one probe attempt and returns a ``ProbeResult`` whose message is worded as
the kubelet's (``HTTP probe failed with statuscode: 500``, ``dial tcp 127.0.0.1:80:
connect: connection refused``). ``ProbeWorker`` runs one probe of one container attempt as
the kubelet's prober worker does: it waits ``initialDelaySeconds`` from the container's
start, probes every ``periodSeconds`` with ``timeoutSeconds``, and reports a changed
result only after ``successThreshold`` successes or ``failureThreshold`` failures in a
row. Readiness starts as failure, liveness as success, startup as unknown. After a
liveness or startup failure is reported it holds until the container restarts.

HTTP and TCP checks are network calls from the agent; exec goes through
``ContainerProcess.exec``. Used by ``gitkube.agent.containers``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gitkube.agent.runtime_api import ContainerProcess

__all__ = ["LIVENESS", "READINESS", "STARTUP", "ProbeResult", "ProbeWorker", "check", "resolve_port"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
LIVENESS, READINESS, STARTUP = "Liveness", "Readiness", "Startup"


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    message: str = ""


def resolve_port(port: Any, container: Obj) -> int:
    """A probe or lifecycle port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port {text} in container {container.get('name')}")


def _dial_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connect: connection refused"
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    inner = getattr(exc, "os_error", None)
    if isinstance(inner, OSError) and inner.errno == errno.ECONNREFUSED:
        return "connect: connection refused"
    return str(exc) or type(exc).__name__


async def _http(action: Obj, container: Obj, pod_ip: str, timeout: float) -> ProbeResult:
    host = str(action.get("host") or pod_ip or "127.0.0.1")
    port = resolve_port(action.get("port"), container)
    scheme = str(action.get("scheme") or "HTTP").lower()
    path = str(action.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    url = f"{scheme}://{hostport}{path}"
    headers = {"User-Agent": "kube-probe/1.32", "Accept": "*/*"}
    headers.update({str(h["name"]): str(h.get("value", "")) for h in action.get("httpHeaders") or []})
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(url, headers=headers, ssl=False, allow_redirects=True) as resp:
            body = (await resp.content.read(10 * 1024)).decode("utf-8", "replace")
            if 200 <= resp.status < 400:
                return ProbeResult(True, body)
            return ProbeResult(False, f"HTTP probe failed with statuscode: {resp.status}")
    except TimeoutError:
        return ProbeResult(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)')
    except aiohttp.ClientConnectorError as exc:
        return ProbeResult(False, f'Get "{url}": dial tcp {hostport}: {_dial_error(exc)}')
    except (aiohttp.ClientError, OSError) as exc:
        return ProbeResult(False, f'Get "{url}": {exc}')


async def _tcp(action: Obj, container: Obj, pod_ip: str, timeout: float) -> ProbeResult:
    host = str(action.get("host") or pod_ip or "127.0.0.1")
    port = resolve_port(action.get("port"), container)
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(False, f"dial tcp {hostport}: {_dial_error(exc)}")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return ProbeResult(True)


async def check(handler: Obj, *, container: Obj, pod_ip: str, process: ContainerProcess | None,
                timeout: float) -> ProbeResult:
    """One attempt of a probe (or a lifecycle handler): httpGet, tcpSocket, exec or grpc."""
    try:
        if handler.get("httpGet") is not None:
            return await _http(handler["httpGet"], container, pod_ip, timeout)
        if handler.get("tcpSocket") is not None:
            return await _tcp(handler["tcpSocket"], container, pod_ip, timeout)
        if handler.get("exec") is not None:
            argv = [str(x) for x in handler["exec"].get("command") or []]
            if process is None:
                return ProbeResult(False, "container is not running")
            try:
                code, output = await process.exec(argv, timeout)
            except TimeoutError:
                return ProbeResult(False, f"command {argv!r} timed out")
            text = output.decode("utf-8", "replace")
            return ProbeResult(code == 0, text if code == 0 or text else f"command {argv!r} exited with {code}")
        if handler.get("grpc") is not None:
            return ProbeResult(False, "gRPC probes are not supported by gitkube")
        if handler.get("sleep") is not None:
            await asyncio.sleep(float(handler["sleep"].get("seconds", 0)))
            return ProbeResult(True)
    except ValueError as exc:
        return ProbeResult(False, str(exc))
    return ProbeResult(False, "missing probe handler")


class ProbeWorker:
    """One probe of one container attempt. ``on_change(result)`` runs when the thresholded
    result changes; ``on_failure(result)`` on each failed attempt (the Unhealthy event)."""

    def __init__(self, kind: str, probe: Obj, attempt: Callable[[float], Awaitable[ProbeResult]], *,
                 started_at: float, on_change: Callable[[bool], None],
                 on_failure: Callable[[ProbeResult], None]) -> None:
        self.kind = kind
        self.probe = probe
        self._attempt = attempt
        self.started_at = started_at
        self.on_change = on_change
        self.on_failure = on_failure
        self.result: bool | None = {LIVENESS: True, READINESS: False, STARTUP: None}[kind]
        self._last: bool | None = None
        self._run = 0
        self.on_hold = False

    def _int(self, name: str, default: int) -> int:
        value = self.probe.get(name)
        return int(value) if value else default

    async def step(self) -> None:
        """One probe attempt and the threshold bookkeeping."""
        if self.on_hold:
            return
        if time.monotonic() - self.started_at < float(self.probe.get("initialDelaySeconds") or 0):
            return
        result = await self._attempt(float(self._int("timeoutSeconds", 1)))
        if not result.success:
            self.on_failure(result)
        if self._last == result.success:
            self._run += 1
        else:
            self._last = result.success
            self._run = 1
        threshold = self._int("successThreshold", 1) if result.success else self._int("failureThreshold", 3)
        if self._run < threshold:
            return
        if self.result != result.success:
            self.result = result.success
            self.on_change(result.success)
        if not result.success and self.kind in (LIVENESS, STARTUP):
            self.on_hold = True
            self._run = 0

    async def run(self) -> None:
        """Probe until cancelled (or, for startup, until it succeeded)."""
        period = float(self._int("periodSeconds", 10))
        while True:
            try:
                await self.step()
            except Exception:  # a probe bug must not take the pod worker down
                log.exception("%s probe failed unexpectedly", self.kind)
            if self.kind == STARTUP and self.result:
                return
            await asyncio.sleep(period)
