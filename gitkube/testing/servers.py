"""Small programs and helpers the end-to-end tests and the benchmarks share.

- :data:`SERVER` - a pod's HTTP server (run as ``python -c SERVER``): answers every GET with the
  pod's name, ``$VERSION`` and its pid, binds ``$POD_IP:8080``, and on SIGTERM finishes the
  requests in flight before exiting (what a rolling update without dropped requests needs).
- :func:`server_container` - the container spec that runs :data:`SERVER` (or another program) as a
  pod: ``$VERSION``, ``$POD_NAME`` and ``$POD_IP`` from the downward API, port 8080 named ``http``
  and a readiness probe on it.
- :func:`free_port` - a TCP port free on 127.0.0.1 right now.

Part of the test kit: nothing in gitkube imports it (layering rule R7).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

__all__ = ["SERVER", "free_port", "server_container"]

SERVER = r"""
import http.server, os, signal, threading
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = ("%s %s %d\n" % (os.environ["POD_NAME"], os.environ.get("VERSION", ""), os.getpid())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H)
srv.daemon_threads = False  # on SIGTERM, finish the requests in flight before exiting
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
print("serving on", os.environ["POD_IP"], flush=True)
srv.serve_forever()
srv.server_close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_container(version: str, *, program: str = SERVER, command: list[str] | None = None,
                     **extra: Any) -> dict[str, Any]:
    """A container named ``app`` running ``program`` (default :data:`SERVER`) with ``$VERSION`` set,
    its pod's name and IP from the downward API, port 8080 named ``http`` and a 1 s readiness
    probe on it; ``extra`` fields are added or replace these."""
    container: dict[str, Any] = {
        "name": "app", "image": "python:3.11", "command": command or [sys.executable, "-c", program],
        "env": [{"name": "VERSION", "value": version},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    }
    container.update(extra)
    return container
