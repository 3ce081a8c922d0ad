"""Issue 6 item 5 end to end: HTTP(S) through the Ingress proxy of a real daemon.

A daemon with a local node and ``--ingress-listen``/``--ingress-tls-listen``; two
Deployments of small Python HTTP servers (each answers with its pod name) behind two
Services; one Ingress routing a.example.com to A and b.example.com/api (Prefix) to B, with
a.example.com also served over TLS from a kubernetes.io/tls Secret holding a self-signed
certificate. Real requests with Host headers (and SNI for HTTPS) reach the right pods.
"""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, free_port, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import deployment, ensure_namespace, reap_containers, service

pytestmark = pytest.mark.e2e

NS = "ing"


def self_signed(host: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl, int, int]]:
    data = tmp_path_factory.mktemp("ingress") / "data"
    http_port, https_port = free_port(), free_port()
    d = start_daemon(data, extra_args=["--node-name", "ing-node", "--service-cidr", "127.83.0.0/16",
                                       "--cluster-cidr", "127.8.0.0/13",
                                       "--ingress-listen", f"127.0.0.1:{http_port}",
                                       "--ingress-tls-listen", f"127.0.0.1:{https_port}"])
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    try:
        wait_for(lambda: "Ready" in k.run("get", "node", "ing-node", check=False).stdout.split(), timeout=30,
                 what="ing-node Ready")
        yield d, k, http_port, https_port
    finally:
        stop_daemon(d)
        reap_containers(data)


def http_get(port: int, host: str, path: str = "/") -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def https_get(port: int, host: str, cafile: Path, path: str = "/") -> tuple[str, str]:
    """GET over TLS to 127.0.0.1 with SNI ``host``, verifying the certificate against ``cafile``."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return head.split("\r\n")[0], body


def apply(k: Kubectl, obj: dict[str, Any] | str) -> None:
    k.run("-n", NS, "apply", "-f", "-", input=obj if isinstance(obj, str) else json.dumps(obj))


def backend(name: str) -> dict[str, Any]:
    return {"service": {"name": name, "port": {"number": 80}}}


def test_http_and_https_through_the_ingress(cluster: tuple[Daemon, Kubectl, int, int], tmp_path: Path) -> None:
    _, k, http_port, https_port = cluster
    ensure_namespace(k, NS)
    for name, replicas in (("app-a", 2), ("app-b", 1)):
        apply(k, deployment(name, replicas=replicas))
        apply(k, service(name))
    cert, key = self_signed("a.example.com")
    apply(k, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a-tls"}, "type": "kubernetes.io/tls",
              "data": {"tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()}})
    apply(k, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
              "spec": {"tls": [{"hosts": ["a.example.com"], "secretName": "a-tls"}],
                       "rules": [{"host": "a.example.com", "http": {"paths": [
                                     {"path": "/", "pathType": "Prefix", "backend": backend("app-a")}]}},
                                 {"host": "b.example.com", "http": {"paths": [
                                     {"path": "/api", "pathType": "Prefix", "backend": backend("app-b")}]}}]}})
    for name in ("app-a", "app-b"):
        k.run("-n", NS, "rollout", "status", f"deploy/{name}", "--timeout=90s", timeout=120)
    pods_a = {p["metadata"]["name"] for p in get_json(k, "-n", NS, "pods", "-l", "app=app-a")["items"]}
    pods_b = {p["metadata"]["name"] for p in get_json(k, "-n", NS, "pods", "-l", "app=app-b")["items"]}
    assert len(pods_a) == 2 and len(pods_b) == 1

    # By host: both pods of A answer in turn (the proxy balances over the ready endpoints).
    wait_for(lambda: http_get(http_port, "a.example.com")[0] == 200, timeout=30, what="a.example.com routed")
    seen_a = {http_get(http_port, "a.example.com", f"/page{i}")[1].split()[0] for i in range(8)}
    assert seen_a == pods_a
    # By path: b.example.com/api (Prefix, element-wise) goes to B; other paths of b are 404.
    status, body = http_get(http_port, "b.example.com", "/api/items?x=1")
    assert status == 200 and body.split()[0] in pods_b
    assert http_get(http_port, "b.example.com", "/api")[1].split()[0] in pods_b
    assert http_get(http_port, "b.example.com", "/apiary")[0] == 404
    assert http_get(http_port, "b.example.com", "/")[0] == 404
    assert http_get(http_port, "c.example.com", "/")[0] == 404

    # TLS: SNI picks the Secret's certificate, which verifies for a.example.com.
    cafile = tmp_path / "a.crt"
    cafile.write_bytes(cert)
    status_line, body = https_get(https_port, "a.example.com", cafile)
    assert status_line.startswith("HTTP/1.1 200") and body.split()[0] in pods_a

    # The Ingress's status shows the listen address (kubectl's ADDRESS column).
    wait_for(lambda: get_json(k, "-n", NS, "ingress", "web").get("status", {}).get("loadBalancer", {})
             .get("ingress") == [{"ip": "127.0.0.1"}], timeout=15, what="status.loadBalancer")
    assert "127.0.0.1" in k.run("-n", NS, "get", "ingress", "web").stdout


def test_ingress_to_a_missing_service_is_an_event(cluster: tuple[Daemon, Kubectl, int, int]) -> None:
    _, k, http_port, _ = cluster
    ensure_namespace(k, NS)
    apply(k, deployment("app-a", replicas=2))
    apply(k, service("app-a"))
    apply(k, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "broken"},
              "spec": {"rules": [{"host": "broken.example.com", "http": {"paths": [
                                     {"path": "/", "pathType": "Prefix", "backend": backend("no-such-service")}]}},
                                 {"host": "fine.example.com", "http": {"paths": [
                                     {"path": "/", "pathType": "Prefix", "backend": backend("app-a")}]}}]}})

    def warned() -> bool:
        events = get_json(k, "-n", NS, "events")["items"]
        return any(e["involvedObject"]["name"] == "broken" and e["reason"] == "ServiceNotFound"
                   and e["type"] == "Warning" for e in events)
    wait_for(warned, timeout=15, what="ServiceNotFound event")
    assert "ServiceNotFound" in k.run("-n", NS, "describe", "ingress", "broken").stdout
    assert http_get(http_port, "broken.example.com")[0] == 503
    # Nothing else is disturbed: the Ingress's other rule is served.
    k.run("-n", NS, "rollout", "status", "deploy/app-a", "--timeout=90s", timeout=120)
    wait_for(lambda: http_get(http_port, "fine.example.com")[0] == 200, timeout=30, what="fine.example.com served")
