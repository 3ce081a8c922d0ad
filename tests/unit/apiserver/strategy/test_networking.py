"""Ingress validation (networking.k8s.io/v1)."""

from __future__ import annotations

from typing import Any

import pytest

from . import causes_of, defaulted, run

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
BACKEND = {"service": {"name": "web", "port": {"number": 80}}}


def ingress(rules: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"rules": rules if rules is not None else [
        {"host": "app.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": BACKEND}]}}]}
    body.update(spec)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def path(**item: Any) -> list[dict[str, Any]]:
    return [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": BACKEND, **item}]}}]


def test_valid_ingresses_and_no_defaults() -> None:
    obj = ingress(tls=[{"hosts": ["app.example.com", "*.example.com"], "secretName": "tls"}], ingressClassName="gitkube")
    assert defaulted("Ingress", obj) == obj
    assert run("Ingress", obj) == []
    assert run("Ingress", ingress(rules=[], defaultBackend=BACKEND)) == []
    assert run("Ingress", ingress(rules=[{"host": "*.example.com", "http": {"paths": [
        {"pathType": "ImplementationSpecific", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}])) == []


CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"rules": []}, "spec", "Invalid value: []: either `defaultBackend` or `rules` must be specified"),
    ({"rules": [{"host": "Bad_Host", "http": {"paths": []}}]}, "spec.rules[0].host",
     f'Invalid value: "Bad_Host": {SUBDOMAIN_MSG}'),
    ({"rules": [{"host": "10.0.0.1"}]}, "spec.rules[0].host",
     'Invalid value: "10.0.0.1": must be a DNS name, not an IP address'),
    ({"rules": [{"host": "*.*.example.com"}]}, "spec.rules[0].host", None),
    ({"rules": [{"http": {"paths": []}}]}, "spec.rules[0].http.paths", "Required value"),
    ({"rules": path(pathType=None)}, "spec.rules[0].http.paths[0].pathType", "Required value: pathType must be specified"),
    ({"rules": path(pathType="Regex")}, "spec.rules[0].http.paths[0].pathType",
     'Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"'),
    ({"rules": path(path="api")}, "spec.rules[0].http.paths[0].path", 'Invalid value: "api": must be an absolute path'),
    ({"rules": path(path="/a//b")}, "spec.rules[0].http.paths[0].path", "Invalid value: \"/a//b\": must not contain '//'"),
    ({"rules": path(path="/a/..")}, "spec.rules[0].http.paths[0].path", "Invalid value: \"/a/..\": cannot end with '/..'"),
    ({"rules": path(backend={})}, "spec.rules[0].http.paths[0].backend",
     'Invalid value: "": resource or service backend is required'),
    ({"rules": path(backend={"service": {"name": "web", "port": {}}})}, "spec.rules[0].http.paths[0].backend",
     "Required value: port name or number is required"),
    ({"rules": path(backend={"service": {"name": "web", "port": {"name": "http", "number": 80}}})},
     "spec.rules[0].http.paths[0].backend", 'Invalid value: "": cannot set both port name & port number'),
    ({"rules": path(backend={"service": {"port": {"number": 80}}})}, "spec.rules[0].http.paths[0].backend.service.name",
     "Required value"),
    ({"rules": path(backend={"service": {"name": "1web", "port": {"number": 80}}})},
     "spec.rules[0].http.paths[0].backend.service.name", None),
    ({"rules": path(backend={"service": {"name": "web", "port": {"number": 70000}}})},
     "spec.rules[0].http.paths[0].backend.service.port.number",
     "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"rules": path(backend={"service": {"name": "web", "port": {"number": 80}},
                             "resource": {"kind": "Bucket", "name": "b"}})},
     "spec.rules[0].http.paths[0].backend", 'Invalid value: "": cannot set both resource and service backends'),
    ({"tls": [{"hosts": ["Bad_Host"]}]}, "spec.tls[0].hosts[0]", f'Invalid value: "Bad_Host": {SUBDOMAIN_MSG}'),
    ({"tls": [{"secretName": "Bad_Secret"}]}, "spec.tls[0].secretName", None),
    ({"ingressClassName": "Bad_Class"}, "spec.ingressClassName", None),
]


@pytest.mark.parametrize(("spec", "field", "message"), CASES)
def test_ingress_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    rules = spec.pop("rules", None)
    obj = ingress(rules, **spec)
    for item in [p for r in obj["spec"]["rules"] for p in r.get("http", {}).get("paths", [])]:
        if item.get("pathType", "") is None:
            del item["pathType"]
    causes = run("Ingress", obj)
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_class_annotation_must_match() -> None:
    obj = ingress(ingressClassName="a")
    obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "b"}
    assert causes_of(run("Ingress", obj), "annotations.kubernetes.io/ingress.class") == [
        'Invalid value: "b": must match `ingressClassName` when both are specified']
