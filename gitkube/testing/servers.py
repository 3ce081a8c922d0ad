"""Small programs and helpers the end-to-end tests and the benchmarks share.

- :data:`SERVER` - a pod's HTTP server (run as ``python -c SERVER``): answers every GET with the
  pod's name, ``$VERSION`` and its pid, binds ``$POD_IP:8080``, and on SIGTERM finishes the
  requests in flight before exiting (what a rolling update without dropped requests needs).
- :func:`free_port` - a TCP port free on 127.0.0.1 right now.

Part of the test kit: nothing in gitkube imports it (layering rule R7).
"""

from __future__ import annotations

import socket

__all__ = ["SERVER", "free_port"]

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
