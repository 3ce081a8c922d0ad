"""Credentials of the built-in control plane: CA, serving certificate, tokens, kubeconfigs.

On first start ``ensure_credentials(data_dir)`` creates, under ``DATA/pki/``, an EC P-256 CA
and a serving certificate signed by it with SANs for 127.0.0.1, ::1, localhost and the
listen host, plus an admin token and a read-only token (``DATA/tokens``). Every file that
holds a key or a token is written 0600 through an atomic rename, so a crash never leaves a
half-written key. Later starts reuse them (the serving certificate is re-issued when the
listen host is not among its SANs or it is within 30 days of expiry).

``write_kubeconfig`` writes ``DATA/kubeconfig`` and ``DATA/readonly.kubeconfig`` in the
shape KUBECTL-COMPAT.md §1 measured. Called by ``gitkube.app`` at start-up.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Credentials", "ensure_credentials", "write_kubeconfig", "write_private"]

_VALIDITY_DAYS_CA = 3650
_VALIDITY_DAYS_LEAF = 365


@dataclass(frozen=True)
class Credentials:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    admin_token: str
    readonly_token: str

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitkube-ca")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALIDITY_DAYS_CA))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for host in hosts:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return entries


def _make_leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hosts: list[str]
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitkube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALIDITY_DAYS_LEAF))
        .add_extension(x509.SubjectAlternativeName(_san_entries(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _leaf_is_usable(cert_path: Path, hosts: list[str]) -> bool:
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=30):
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName)
    )
    return all(h in have for h in hosts)


def ensure_credentials(data_dir: Path, listen_host: str = "127.0.0.1") -> Credentials:
    """Create (first start) or load the CA, serving certificate and tokens under ``data_dir``."""
    pki = data_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(pki, 0o700)
    ca_cert_path, ca_key_path = pki / "ca.crt", pki / "ca.key"
    cert_path, key_path = pki / "apiserver.crt", pki / "apiserver.key"

    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca_key = loaded
    else:
        ca_key, ca_cert = _make_ca()
        write_private(ca_key_path, _key_pem(ca_key))
        _write_public(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))

    hosts = ["127.0.0.1", "::1", "localhost"]
    if listen_host not in hosts and listen_host not in ("0.0.0.0", "::", ""):
        hosts.append(listen_host)
    if not _leaf_is_usable(cert_path, hosts):
        key, cert = _make_leaf(ca_key, ca_cert, hosts)
        write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))

    tokens_path = data_dir / "tokens"
    if tokens_path.exists():
        tokens = json.loads(tokens_path.read_text())
    else:
        tokens = {"admin": secrets.token_urlsafe(32), "readonly": secrets.token_urlsafe(32)}
        write_private(tokens_path, json.dumps(tokens).encode())
    return Credentials(
        ca_cert=ca_cert_path,
        server_cert=cert_path,
        server_key=key_path,
        admin_token=str(tokens["admin"]),
        readonly_token=str(tokens["readonly"]),
    )


def _kubeconfig(server: str, ca_pem: bytes, user: str, token: str) -> str:
    ca_b64 = base64.b64encode(ca_pem).decode()
    # JSON is valid YAML; kubectl and the kubernetes package both read it.
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gitkube", "cluster": {"server": server, "certificate-authority-data": ca_b64}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "gitkube", "context": {"cluster": "gitkube", "user": user, "namespace": "default"}}],
        "current-context": "gitkube",
        "preferences": {},
    }
    return json.dumps(doc, indent=2) + "\n"


def write_kubeconfig(data_dir: Path, server: str, creds: Credentials) -> tuple[Path, Path]:
    """Write ``DATA/kubeconfig`` (admin) and ``DATA/readonly.kubeconfig``; both 0600."""
    admin = data_dir / "kubeconfig"
    readonly = data_dir / "readonly.kubeconfig"
    ca = creds.ca_pem()
    write_private(admin, _kubeconfig(server, ca, "gitkube-admin", creds.admin_token).encode())
    write_private(readonly, _kubeconfig(server, ca, "gitkube-readonly", creds.readonly_token).encode())
    return admin, readonly
