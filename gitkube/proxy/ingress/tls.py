"""TLS for the Ingress proxy: one certificate per host, chosen by SNI, reloadable.

:class:`CertificateStore` owns the listener's :class:`ssl.SSLContext`. Its ``sni_callback``
switches each handshake to the context of the requested server name: an exact host first,
then a ``*.example.com`` wildcard covering one label. A handshake without SNI, or for a host
no Ingress has a certificate for, gets a self-signed "Gitkube Ingress Fake Certificate"
(ingress-nginx's behaviour), generated in memory at start.

:meth:`CertificateStore.update` replaces the whole host table atomically (contexts of
unchanged key pairs are reused), so a changed Secret takes effect on the next handshake
without touching established connections. :func:`pem_pair` reads ``tls.crt``/``tls.key``
from a ``kubernetes.io/tls`` Secret. Used by :mod:`gitkube.proxy.ingress.proxy`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gitkube.errors import GitkubeError

__all__ = ["FAKE_CERTIFICATE_CN", "CertificateError", "CertificateStore", "pem_pair"]

FAKE_CERTIFICATE_CN = "Gitkube Ingress Fake Certificate"

PemPair = tuple[bytes, bytes]


class CertificateError(GitkubeError):
    """A TLS Secret that cannot be served (missing keys, bad PEM, key not matching the certificate)."""


def pem_pair(secret: Mapping[str, Any]) -> PemPair:
    """``(certificate PEM, key PEM)`` of a TLS Secret; CertificateError when absent or undecodable."""
    data = secret.get("data") or {}
    out: list[bytes] = []
    for key in ("tls.crt", "tls.key"):
        value = data.get(key)
        if not value:
            raise CertificateError(f"secret has no {key}")
        try:
            out.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise CertificateError(f"secret key {key} is not valid base64") from None
    return out[0], out[1]


def _fake_certificate() -> PemPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gitkube"),
                      x509.NameAttribute(NameOID.COMMON_NAME, FAKE_CERTIFICATE_CN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _context(pair: PemPair) -> ssl.SSLContext:
    """A server context serving ``pair``; CertificateError when the PEM is unusable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    # load_cert_chain reads files only: a private directory that is gone right after.
    with tempfile.TemporaryDirectory(prefix="gitkube-ingress-") as tmp:
        cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        for path, data in ((cert_path, pair[0]), (key_path, pair[1])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise CertificateError(f"cannot load the certificate and key: {exc.reason or exc}") from None
    return ctx


class CertificateStore:
    """Per-host certificates behind one SNI-switching server context."""

    def __init__(self) -> None:
        self._fake = _context(_fake_certificate())
        self._exact: dict[str, ssl.SSLContext] = {}
        self._wildcard: dict[str, ssl.SSLContext] = {}  # ".example.com" -> context
        self._by_digest: dict[str, ssl.SSLContext] = {}
        self._server = _context(_fake_certificate())
        self._server.sni_callback = self._select

    @property
    def server_context(self) -> ssl.SSLContext:
        """The context to listen with (serves the fake certificate until SNI picks another)."""
        return self._server

    def hosts(self) -> list[str]:
        return sorted([*self._exact, *("*" + s for s in self._wildcard)])

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        """The context a handshake for ``server_name`` is switched to."""
        if not server_name:
            return self._fake
        name = server_name.lower().rstrip(".")
        found = self._exact.get(name)
        if found is None:
            label, dot, rest = name.partition(".")
            found = self._wildcard.get("." + rest) if label and dot else None
        return found or self._fake

    def _select(self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        sslobj.context = self.context_for(server_name)

    def load(self, pair: PemPair) -> ssl.SSLContext:
        """The context of a key pair (cached by content); CertificateError when it is unusable."""
        digest = hashlib.sha256(pair[0] + b"\0" + pair[1]).hexdigest()
        ctx = self._by_digest.get(digest)
        if ctx is None:
            ctx = _context(pair)
            self._by_digest[digest] = ctx
        return ctx

    def update(self, hosts: Mapping[str, PemPair]) -> None:
        """Serve exactly ``hosts`` (host or ``*.`` wildcard -> key pair); raise nothing, the pairs were loaded."""
        exact: dict[str, ssl.SSLContext] = {}
        wildcard: dict[str, ssl.SSLContext] = {}
        used: set[str] = set()
        for host, pair in hosts.items():
            ctx = self.load(pair)
            used.add(hashlib.sha256(pair[0] + b"\0" + pair[1]).hexdigest())
            host = host.lower()
            if host.startswith("*."):
                wildcard[host[1:]] = ctx
            else:
                exact[host] = ctx
        self._exact, self._wildcard = exact, wildcard
        self._by_digest = {d: c for d, c in self._by_digest.items() if d in used}
