from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509

from gitkube import errors
from gitkube.apiserver import auth, ipalloc, pki, requestinfo


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_credentials_created_once_with_private_modes(tmp_path: Path) -> None:
    creds = pki.ensure_credentials(tmp_path)
    for path in (creds.server_key, tmp_path / "pki" / "ca.key", tmp_path / "tokens"):
        assert _mode(path) == 0o600, path
    cert = x509.load_pem_x509_certificate(creds.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    again = pki.ensure_credentials(tmp_path)
    assert again.admin_token == creds.admin_token and again.readonly_token == creds.readonly_token
    assert again.server_cert.read_bytes() == creds.server_cert.read_bytes()
    assert creds.admin_token != creds.readonly_token


def test_new_listen_host_reissues_serving_cert(tmp_path: Path) -> None:
    first = pki.ensure_credentials(tmp_path).server_cert.read_bytes()
    second = pki.ensure_credentials(tmp_path, "gitkube.example").server_cert.read_bytes()
    assert first != second
    cert = x509.load_pem_x509_certificate(second)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "gitkube.example" in san.get_values_for_type(x509.DNSName)


def test_kubeconfigs(tmp_path: Path) -> None:
    creds = pki.ensure_credentials(tmp_path)
    admin, readonly = pki.write_kubeconfig(tmp_path, "https://127.0.0.1:7443", creds)
    assert _mode(admin) == 0o600 and _mode(readonly) == 0o600
    cfg = json.loads(admin.read_text())
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7443"
    assert cfg["users"][0]["user"]["token"] == creds.admin_token
    assert json.loads(readonly.read_text())["users"][0]["user"]["token"] == creds.readonly_token


def test_authentication() -> None:
    a = auth.TokenAuthenticator("admintoken", "readtoken")
    assert a.authenticate("Bearer admintoken") is auth.ADMIN
    assert a.authenticate("bearer readtoken") is auth.READONLY
    for header in (None, "", "Bearer", "Bearer nope", "Basic admintoken"):
        with pytest.raises(errors.Unauthorized):
            a.authenticate(header)


def test_readonly_authorization() -> None:
    auth.authorize(auth.READONLY, requestinfo.parse("GET", "/api/v1/namespaces/a/pods", {}))
    auth.authorize(auth.READONLY, requestinfo.parse("GET", "/api/v1/pods", {"watch": "1"}))
    auth.authorize(auth.ADMIN, requestinfo.parse("DELETE", "/api/v1/namespaces/a/secrets/s", {}))
    with pytest.raises(errors.Forbidden, match='User "gitkube-readonly" cannot list resource "secrets"'):
        auth.authorize(auth.READONLY, requestinfo.parse("GET", "/api/v1/namespaces/a/secrets", {}))
    with pytest.raises(errors.Forbidden, match='cannot patch resource "deployments/scale" in API group "apps"'):
        auth.authorize(auth.READONLY, requestinfo.parse("PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale", {}))


def test_cluster_ip_allocator() -> None:
    alloc = ipalloc.ClusterIPAllocator("127.96.0.0/29")
    assert alloc.first == "127.96.0.1"
    alloc.load(["127.96.0.1"])
    got = {alloc.allocate() for _ in range(5)}
    assert len(got) == 5 and "127.96.0.1" not in got
    assert all(ip.startswith("127.96.0.") and ip not in ("127.96.0.0", "127.96.0.7") for ip in got)
    with pytest.raises(errors.InternalError, match="range 127.96.0.0/29 is full"):
        alloc.allocate()
    alloc.release(next(iter(got)))
    assert alloc.allocate() in got
    with pytest.raises(errors.Invalid, match="already allocated"):
        alloc.allocate("127.96.0.1")
    with pytest.raises(errors.Invalid, match="not in the valid range"):
        alloc.allocate("10.0.0.1")
    with pytest.raises(errors.ConfigError):
        ipalloc.ClusterIPAllocator("not-a-cidr")
