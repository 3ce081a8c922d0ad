"""Backend resolution (Service port by number or name, ExternalName, missing Service or port)
and the SNI certificate store (exact, wildcard, fake certificate, bad Secrets)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from gitkube.proxy.balancer import Backend
from gitkube.proxy.ingress.backends import BackendPool, resolve
from gitkube.proxy.ingress.routing import BackendRef
from gitkube.proxy.ingress.tls import CertificateError, CertificateStore, pem_pair

from .kit import self_signed, tls_secret

SERVICES: dict[str, Any] = {
    "ns/web": {"spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9000}]}},
    "ns/one": {"spec": {"ports": [{"port": 8080}]}},
    "ns/ext": {"spec": {"type": "ExternalName", "externalName": "example.org"}},
}
ENDPOINTS: dict[str, Any] = {
    "ns/web": {"subsets": [{"addresses": [{"ip": "127.9.0.2"}, {"ip": "127.9.0.1"}],
                            "notReadyAddresses": [{"ip": "127.9.0.3"}],
                            "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9090}]}]},
    "ns/one": {"subsets": [{"addresses": [{"ip": "127.9.1.1"}], "ports": [{"name": "", "port": 3000}]}]},
}


@pytest.mark.parametrize(("ref", "backends", "reason"), [
    (BackendRef("ns", "web", 80), [Backend("127.9.0.1", 8080), Backend("127.9.0.2", 8080)], ""),
    (BackendRef("ns", "web", 0, "admin"), [Backend("127.9.0.1", 9090), Backend("127.9.0.2", 9090)], ""),
    (BackendRef("ns", "one", 8080), [Backend("127.9.1.1", 3000)], ""),
    (BackendRef("ns", "ext", 443), [Backend("example.org", 443)], ""),
    (BackendRef("ns", "web", 81), [], "ServicePortNotFound"),
    (BackendRef("ns", "web", 0, "nope"), [], "ServicePortNotFound"),
    (BackendRef("ns", "gone", 80), [], "ServiceNotFound"),
    (BackendRef("other", "web", 80), [], "ServiceNotFound"),
])
def test_resolve(ref: BackendRef, backends: list[Backend], reason: str) -> None:
    found = resolve(ref, SERVICES.get, ENDPOINTS.get)
    assert list(found.backends) == backends and found.reason == reason


def test_pool_keeps_balancers_across_updates() -> None:
    pool = BackendPool()
    ref, gone = BackendRef("ns", "web", 80), BackendRef("ns", "gone", 80)
    problems = pool.update([ref, gone], SERVICES.get, ENDPOINTS.get)
    assert list(problems) == [gone] and pool.problem(gone) == 'service "ns/gone" not found'
    balancer = pool.balancer(ref)
    assert balancer is not None and pool.balancer(gone) is None
    pool.update([ref], SERVICES.get, lambda key: None)
    assert pool.balancer(ref) is balancer and not balancer  # same rotation, no ready backends now
    pool.update([], SERVICES.get, ENDPOINTS.get)
    assert pool.balancer(ref) is None


def test_certificate_store_picks_by_server_name() -> None:
    store = CertificateStore()
    exact, wildcard = self_signed("a.example.com"), self_signed("*.example.com")
    store.update({"a.example.com": exact, "*.example.com": wildcard})
    ctx_exact, ctx_wild = store.load(exact), store.load(wildcard)
    assert store.context_for("A.example.com") is ctx_exact
    assert store.context_for("b.example.com") is ctx_wild
    fake = store.context_for(None)
    assert store.context_for("x.b.example.com") is fake and store.context_for("example.com") is fake
    assert store.hosts() == ["*.example.com", "a.example.com"]
    assert isinstance(store.server_context, ssl.SSLContext) and store.server_context.sni_callback is not None
    store.update({})
    assert store.context_for("a.example.com") is fake


def test_bad_secrets_are_refused() -> None:
    store = CertificateStore()
    with pytest.raises(CertificateError, match="no tls.key"):
        pem_pair({"data": {"tls.crt": "AAAA"}})
    with pytest.raises(CertificateError, match="base64"):
        pem_pair({"data": {"tls.crt": "!!", "tls.key": "AAAA"}})
    cert, _ = self_signed("a.example.com")
    _, other_key = self_signed("b.example.com")
    with pytest.raises(CertificateError, match="cannot load"):
        store.load(pem_pair(tls_secret("x", (cert, other_key))))
