"""The daemon itself: TLS, tokens, health, bad input, clean stop and crash durability."""

from __future__ import annotations

import json
import signal
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.e2e


def _token(daemon: Daemon, which: str = "admin") -> str:
    return str(json.loads((daemon.data_dir / "tokens").read_text())[which])


def request(daemon: Daemon, method: str, path: str, body: bytes | None = None, *,
            content_type: str | None = "application/json", token: str | None = "admin",
            accept: str = "application/json") -> tuple[int, dict[str, str], Any]:
    ctx = ssl.create_default_context(cafile=str(daemon.data_dir / "pki" / "ca.crt"))
    req = urllib.request.Request(daemon.url + path, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    req.add_header("Accept", accept)
    if token:
        req.add_header("Authorization", f"Bearer {_token(daemon, token)}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), (json.loads(raw) if raw.startswith(b"{") else raw.decode())
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, dict(err.headers), (json.loads(raw) if raw.startswith(b"{") else raw.decode())


CM_PATH = "/api/v1/namespaces/default/configmaps"
ARGS = ["--no-local-node", "--service-cidr", "127.99.0.0/16"]


def test_tls_cert_verifies_against_ca_for_ip_and_localhost(daemon: Daemon) -> None:
    ctx = ssl.create_default_context(cafile=str(daemon.data_dir / "pki" / "ca.crt"))
    for host in ("127.0.0.1", "localhost"):
        with urllib.request.urlopen(f"https://{host}:{daemon.port}/readyz", context=ctx, timeout=5) as resp:
            assert resp.status == 200 and resp.read() == b"ok"


def test_plain_http_is_refused(daemon: Daemon) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/api", timeout=5).read()


def test_tokens(daemon: Daemon) -> None:
    status, _, body = request(daemon, "GET", CM_PATH, token=None)
    assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"
    status, _, _ = request(daemon, "GET", "/version", token=None)
    assert status == 200
    status, _, body = request(daemon, "POST", CM_PATH, b'{"metadata":{"name":"ro"}}', token="readonly")
    assert status == 403 and body["reason"] == "Forbidden"


@pytest.mark.parametrize(
    "method,path,body,ctype,code,reason",
    [
        ("POST", CM_PATH, b'{"metadata": {"name": "x"', "application/json", 400, "BadRequest"),
        ("POST", CM_PATH, b"metadata: [unclosed", "application/yaml", 400, "BadRequest"),
        ("POST", CM_PATH, b"k8s\x00\x0a", "application/vnd.kubernetes.protobuf", 415, "UnsupportedMediaType"),
        ("PATCH", CM_PATH + "/x", b"{}", "text/plain", 415, "UnsupportedMediaType"),
        ("GET", "/api/v1/namespaces/default/widgets", None, None, 404, "NotFound"),
        ("GET", "/apis/nope.example.com/v1/things", None, None, 404, "NotFound"),
        ("POST", CM_PATH, json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024)}}).encode(),
         "application/json", 413, "RequestEntityTooLarge"),
        ("POST", CM_PATH, b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"},"data":{"bad key":"v"}}',
         "application/json", 422, "Invalid"),
    ],
)
def test_bad_input_gets_a_status_and_changes_nothing(daemon: Daemon, method: str, path: str, body: bytes | None,
                                                      ctype: str | None, code: int, reason: str) -> None:
    _, _, before = request(daemon, "GET", CM_PATH)
    status, headers, reply = request(daemon, method, path, body, content_type=ctype)
    assert status == code, reply
    assert headers["Content-Type"].startswith("application/json")
    assert reply["kind"] == "Status" and reply["reason"] == reason and reply["code"] == code
    assert reply["message"]
    if code == 422:
        fields = {c["field"] for c in reply["details"]["causes"]}
        assert {"metadata.name", "data[bad key]"} <= fields or {"metadata.name"} <= fields
        assert len(reply["details"]["causes"]) >= 2
    _, _, after = request(daemon, "GET", CM_PATH)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_sigterm_stops_cleanly_and_kill9_keeps_every_object(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = start_daemon(data, extra_args=ARGS)
    created = []
    for i in range(50):
        status, _, obj = request(d, "POST", CM_PATH, json.dumps({"metadata": {"name": f"keep-{i}"}, "data": {"i": str(i)}}).encode())
        assert status == 201
        created.append(obj)
    assert stop_daemon(d, signal.SIGTERM) == 0
    assert "stopping" in d.log()

    d = start_daemon(data, port=d.port, extra_args=ARGS)
    status, _, obj = request(d, "POST", CM_PATH, json.dumps({"metadata": {"name": "after-restart"}}).encode())
    assert status == 201
    last_rv = int(obj["metadata"]["resourceVersion"])
    assert last_rv > max(int(o["metadata"]["resourceVersion"]) for o in created)
    stop_daemon(d, signal.SIGKILL)

    d = start_daemon(data, port=d.port, extra_args=ARGS)
    try:
        for original in created:
            status, _, obj = request(d, "GET", f"{CM_PATH}/{original['metadata']['name']}")
            assert status == 200 and obj == original
        status, _, obj = request(d, "GET", f"{CM_PATH}/after-restart")
        assert status == 200 and int(obj["metadata"]["resourceVersion"]) == last_rv
    finally:
        assert stop_daemon(d) == 0


def test_large_body_arrives_whole(daemon: Daemon) -> None:
    """A 900 KiB body spans many TCP segments; the server must read all of it."""
    value = "x" * (900 * 1024)
    body = json.dumps({"metadata": {"name": "large-body"}, "data": {"k": value}}).encode()
    status, _, obj = request(daemon, "POST", CM_PATH, body)
    assert status == 201, obj
    status, _, obj = request(daemon, "GET", f"{CM_PATH}/large-body")
    assert status == 200 and obj["data"]["k"] == value
