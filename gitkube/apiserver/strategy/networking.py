"""The Ingress (networking.k8s.io/v1) strategy: ``ValidateIngressCreate``/``Update``.

Either ``defaultBackend`` or ``rules`` must be given; rule hosts are DNS subdomains (or
``*.`` wildcards), never IP addresses; every HTTP path needs a ``pathType`` of Exact, Prefix
or ImplementationSpecific, Exact and Prefix paths are absolute and free of ``//``, ``/./``,
``/../``, ``%2f``; a backend names exactly one of a service (DNS-1035 name plus a port name
or number) or a resource; TLS hosts and secret names are checked; the
``kubernetes.io/ingress.class`` annotation must agree with ``ingressClassName``. Ingress v1
has no defaults.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, get_dict, get_int, get_list, get_str
from gitkube.errors import Cause

__all__ = [
    "INGRESS",
    "validate_ingress",
]

_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")
_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def _is_ip(host: str) -> bool:
    return not names.is_valid_ip(host)


def _backend(backend: Any, path: str) -> list[Cause]:
    if not isinstance(backend, dict):
        return [c.invalid(path, "", "resource or service backend is required")]
    has_resource = isinstance(backend.get("resource"), dict)
    has_service = isinstance(backend.get("service"), dict)
    if has_resource and has_service:
        return [c.invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        resource = backend["resource"]
        out: list[Cause] = []
        rpath = c.child(path, "resource")
        for name in ("kind", "name"):
            value = get_str(resource, name)
            if not value:
                out.append(c.required(c.child(rpath, name)))
            else:
                out += [c.invalid(c.child(rpath, name), value, m) for m in names.is_path_segment_name(value)]
        group = resource.get("apiGroup")
        if isinstance(group, str) and group:
            out += [c.invalid(c.child(rpath, "apiGroup"), group, m) for m in names.is_dns1123_subdomain(group)]
        return out
    if not has_service:
        return [c.invalid(path, "", "resource or service backend is required")]
    service = backend["service"]
    out = []
    name = get_str(service, "name")
    if not name:
        out.append(c.required(c.child(path, "service", "name")))
    else:
        out += [c.invalid(c.child(path, "service", "name"), name, m) for m in names.name_is_dns1035_label(name, False)]
    port = get_dict(service, "port")
    port_name, port_number = get_str(port, "name"), get_int(port, "number") or 0
    if port_name and port_number:
        out.append(c.invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        out += [c.invalid(c.child(path, "service", "port", "name"), port_name, m)
                for m in names.is_valid_port_name(port_name)]
    elif port_number:
        out += [c.invalid(c.child(path, "service", "port", "number"), port_number, m)
                for m in names.is_valid_port_num(port_number)]
    else:
        out.append(c.required(path, "port name or number is required"))
    return out


def _http_path(item: Any, path: str) -> list[Cause]:
    path_type = item.get("pathType") if isinstance(item, dict) else None
    if path_type is None:
        return [c.required(c.child(path, "pathType"), "pathType must be specified")]
    out: list[Cause] = []
    value = get_str(item, "path")
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            out.append(c.invalid(c.child(path, "path"), value, "must be an absolute path"))
        for seq in _INVALID_SEQUENCES:
            if seq in value:
                out.append(c.invalid(c.child(path, "path"), value, f"must not contain '{seq}'"))
        for suffix in _INVALID_SUFFIXES:
            if value.endswith(suffix):
                out.append(c.invalid(c.child(path, "path"), value, f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            out.append(c.invalid(c.child(path, "path"), value, "must be an absolute path"))
    else:
        out.append(c.not_supported(c.child(path, "pathType"), path_type, _PATH_TYPES))
    return out + _backend(item.get("backend") if isinstance(item, dict) else None, c.child(path, "backend"))


def _host(host: str, path: str) -> list[Cause]:
    out: list[Cause] = []
    if _is_ip(host):
        out.append(c.invalid(path, host, "must be a DNS name, not an IP address"))
    check = names.is_wildcard_dns1123_subdomain if "*" in host else names.is_dns1123_subdomain
    return out + [c.invalid(path, host, m) for m in check(host)]


def validate_ingress(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    rules = get_list(spec, "rules")
    default_backend = spec.get("defaultBackend")
    if not rules and default_backend is None:
        out.append(c.invalid("spec", rules if spec.get("rules") is not None else None,
                             "either `defaultBackend` or `rules` must be specified"))
    if default_backend is not None:
        out += _backend(default_backend, "spec.defaultBackend")
    for i, rule in enumerate(rules):
        rpath = c.index("spec.rules", i)
        host = get_str(rule, "host")
        if host:
            out += _host(host, c.child(rpath, "host"))
        http = rule.get("http") if isinstance(rule, dict) else None
        if isinstance(http, dict):
            paths = get_list(http, "paths")
            if not paths:
                out.append(c.required(c.child(rpath, "http", "paths")))
            for j, item in enumerate(paths):
                out += _http_path(item, c.index(c.child(rpath, "http", "paths"), j))
    for i, tls in enumerate(get_list(spec, "tls")):
        tpath = c.index("spec.tls", i)
        for j, host in enumerate(get_list(tls, "hosts")):
            if isinstance(host, str):
                check = names.is_wildcard_dns1123_subdomain if "*" in host else names.is_dns1123_subdomain
                out += [c.invalid(c.index(c.child(tpath, "hosts"), j), host, m) for m in check(host)]
        secret = get_str(tls, "secretName")
        if secret:
            out += [c.invalid(c.child(tpath, "secretName"), secret, m) for m in names.name_is_dns_subdomain(secret, False)]
    class_name = spec.get("ingressClassName")
    if isinstance(class_name, str):
        out += [c.invalid("spec.ingressClassName", class_name, m) for m in names.name_is_dns_subdomain(class_name, False)]
    annotation = get_dict(get_dict(obj, "metadata"), "annotations").get(_CLASS_ANNOTATION)
    if old is None and isinstance(annotation, str) and isinstance(class_name, str) and annotation != class_name:
        out.append(c.invalid(c.child("annotations", _CLASS_ANNOTATION), annotation,
                             "must match `ingressClassName` when both are specified"))
    return out


def _no_defaults(obj: dict[str, Any]) -> None:
    return None


INGRESS = KindStrategy(name_fn=names.name_is_dns_subdomain, default=_no_defaults, validate=validate_ingress)
