"""TLS only, and private files: plain HTTP to the API port gets no HTTP answer (let alone data),
TLS below 1.2 is refused, the data dir is 0700 and every token, key, kubeconfig and database file
in it is readable by its owner only."""

from __future__ import annotations

import socket
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.security.conftest import Sec

pytestmark = pytest.mark.e2e


def _plain_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        try:
            while len(received) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/api/v1/secrets", "/gitkube/v1/status", "/version"])
def test_plain_http_gets_no_http_answer(sec: Sec, path: str) -> None:
    for token in (None, sec.admin_token):
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        answer = _plain_exchange(sec.daemon.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
        assert not answer.startswith(b"HTTP/"), answer[:200]
        for needle in (b"items", b"kind", b"major", b"namespaces", b"{"):
            assert needle not in answer, answer[:200]
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{sec.daemon.port}{path}", timeout=5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_is_refused(sec: Sec) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", sec.daemon.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass


def test_the_certificate_is_verified_against_the_ca(sec: Sec) -> None:
    with pytest.raises(urllib.error.URLError) as err:  # the system CAs do not know the daemon's CA
        urllib.request.urlopen(f"{sec.daemon.url}/version", timeout=5, context=ssl.create_default_context())
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    assert sec.request("GET", "/version").status == 200  # with DATA/pki/ca.crt it verifies


PRIVATE = ["tokens", "kubeconfig", "readonly.kubeconfig", "age.key", "state.db", "pki/ca.key", "pki/apiserver.key",
           "pki/encryption.key", "api.sock"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_data_dir_and_secret_files_are_private(sec: Sec) -> None:
    data = sec.data
    assert _mode(data) == 0o700, oct(_mode(data))
    assert _mode(data / "pki") == 0o700, oct(_mode(data / "pki"))
    missing = [name for name in PRIVATE if not (data / name).exists()]
    assert not missing, f"expected files not found (renamed?): {missing}; have {sorted(p.name for p in data.iterdir())}"
    for name in PRIVATE:
        assert _mode(data / name) & 0o077 == 0, f"{name} is {oct(_mode(data / name))}"
    # everything under pki/ except the CA certificate is a key or a token: owner only
    for path in (data / "pki").iterdir():
        if path.name not in ("ca.crt", "apiserver.crt"):
            assert _mode(path) & 0o077 == 0, f"pki/{path.name} is {oct(_mode(path))}"
    # the database's WAL and shared-memory files carry the same data
    for path in data.glob("state.db*"):
        assert _mode(path) & 0o077 == 0, f"{path.name} is {oct(_mode(path))}"
    # and nothing anywhere in DATA is writable by others, or readable by others where it holds a secret
    for path in data.rglob("*"):
        rel = path.relative_to(data)
        if path.is_symlink() or (rel.parts[0] == "pods" and "volumes" in rel.parts):
            continue  # emptyDir volumes are 0777 as in Kubernetes, for any uid of the pod; DATA is 0700
        assert _mode(path) & 0o002 == 0, f"{rel} is world-writable: {oct(_mode(path))}"
