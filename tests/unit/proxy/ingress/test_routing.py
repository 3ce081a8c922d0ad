"""Route matching against the tables of the Kubernetes Ingress documentation
(kubernetes.io/docs/concepts/services-networking/ingress: "Examples" of path matching and
"Hostname wildcards"), plus host precedence and default backends."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.proxy.ingress.routing import (
    BackendRef,
    build_table,
    host_matches,
    ingress_backends,
    normalize_host,
    path_matches,
    serves,
)


def backend(name: str, port: int | str = 80) -> dict[str, Any]:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": name, "port": ref}}


def ingress(name: str, rules: list[dict[str, Any]] | None = None, default: str | None = None, *,
            created: str = "2024-01-01T00:00:00Z", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"rules": rules or [], **spec}
    if default:
        body["defaultBackend"] = backend(default)
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": body}


def rule(host: str | None, *paths: tuple[str, str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"http": {"paths": [{"path": p, "pathType": t, "backend": backend(svc)} for t, p, svc in paths]}}
    if host:
        out["host"] = host
    return out


# (path type, rule paths, request path, matches) - the Kubernetes documentation's table.
DOC_PATH_TABLE = [
    ("Prefix", ["/"], "/anything/at/all", True),
    ("Exact", ["/foo"], "/foo", True),
    ("Exact", ["/foo"], "/bar", False),
    ("Exact", ["/foo"], "/foo/", False),
    ("Exact", ["/foo/"], "/foo", False),
    ("Prefix", ["/foo"], "/foo", True),
    ("Prefix", ["/foo"], "/foo/", True),
    ("Prefix", ["/foo/"], "/foo", True),
    ("Prefix", ["/foo/"], "/foo/", True),
    ("Prefix", ["/aaa/bb"], "/aaa/bbb", False),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb", True),
    ("Prefix", ["/aaa/bbb/"], "/aaa/bbb", True),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb/", True),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb/ccc", True),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbbxyz", False),
    ("Prefix", ["/", "/aaa"], "/aaa/ccc", True),
    ("Prefix", ["/", "/aaa", "/aaa/bbb"], "/aaa/bbb", True),
    ("Prefix", ["/", "/aaa", "/aaa/bbb"], "/ccc", True),
    ("Prefix", ["/aaa"], "/ccc", False),
    ("ImplementationSpecific", ["/aaa"], "/aaa/x", True),
    ("ImplementationSpecific", ["/aaa"], "/aaax", False),
]


@pytest.mark.parametrize(("path_type", "paths", "request_path", "matches"), DOC_PATH_TABLE)
def test_documented_path_matching(path_type: str, paths: list[str], request_path: str, matches: bool) -> None:
    assert any(path_matches(path_type, p, request_path) for p in paths) is matches
    table = build_table([ingress("ing", [rule("foo.bar.com", *((path_type, p, f"svc{i}") for i, p in enumerate(paths)))])])
    route = table.match("foo.bar.com", request_path)
    assert (route is not None) is matches


@pytest.mark.parametrize(("paths", "request_path", "expected"), [
    (["/", "/aaa"], "/aaa/ccc", "/aaa"),
    (["/", "/aaa", "/aaa/bbb"], "/aaa/bbb", "/aaa/bbb"),
    (["/", "/aaa", "/aaa/bbb"], "/ccc", "/"),
    (["/aaa/bbb", "/", "/aaa"], "/aaa/bbb/x", "/aaa/bbb"),
])
def test_longest_prefix_wins(paths: list[str], request_path: str, expected: str) -> None:
    table = build_table([ingress("ing", [rule("h.example", *(("Prefix", p, f"svc{p}") for p in paths))])])
    route = table.match("h.example", request_path)
    assert route is not None and route.path == expected and route.backend == BackendRef("default", f"svc{expected}", 80)


def test_exact_beats_prefix_of_the_same_path() -> None:
    # "Mixed: /foo (Prefix), /foo (Exact) - request /foo - Yes, prefers Exact".
    table = build_table([ingress("ing", [rule(None, ("Prefix", "/foo", "prefix"), ("Exact", "/foo", "exact"))])])
    assert table.match("any", "/foo").backend.service == "exact"  # type: ignore[union-attr]
    assert table.match("any", "/foo/x").backend.service == "prefix"  # type: ignore[union-attr]


# (rule host, request host, matches) - the documentation's hostname wildcard table.
DOC_HOST_TABLE = [
    ("*.foo.com", "bar.foo.com", True),
    ("*.foo.com", "baz.bar.foo.com", False),
    ("*.foo.com", "foo.com", False),
    ("foo.bar.com", "foo.bar.com", True),
    ("foo.bar.com", "bar.foo.com", False),
    ("", "whatever.example", True),
]


@pytest.mark.parametrize(("rule_host", "host", "matches"), DOC_HOST_TABLE)
def test_documented_host_matching(rule_host: str, host: str, matches: bool) -> None:
    assert host_matches(rule_host, host) is matches
    table = build_table([ingress("ing", [rule(rule_host or None, ("Prefix", "/", "svc"))])])
    assert (table.match(host, "/") is not None) is matches


@pytest.mark.parametrize(("header", "host"), [
    ("Foo.Bar.COM", "foo.bar.com"), ("foo.bar.com:8080", "foo.bar.com"), ("foo.bar.com.", "foo.bar.com"),
    ("[::1]:80", "::1"), ("127.0.0.1:9", "127.0.0.1"), ("", ""),
])
def test_normalize_host(header: str, host: str) -> None:
    assert normalize_host(header) == host


def test_exact_host_over_wildcard_over_catch_all_without_fall_through() -> None:
    table = build_table([
        ingress("exact", [rule("a.foo.com", ("Prefix", "/api", "exact"))]),
        ingress("wild", [rule("*.foo.com", ("Prefix", "/", "wild"))]),
        ingress("any", [rule(None, ("Prefix", "/", "any"))]),
    ])
    assert table.match("a.foo.com", "/api/v1").backend.service == "exact"  # type: ignore[union-attr]
    # a.foo.com has rules: a path they do not match does not fall through to the wildcard.
    assert table.match("a.foo.com", "/other") is None
    assert table.match("b.foo.com", "/other").backend.service == "wild"  # type: ignore[union-attr]
    assert table.match("x.y.foo.com", "/").backend.service == "any"  # type: ignore[union-attr]
    assert table.hosts() == ["*.foo.com", "a.foo.com"]


def test_default_backends() -> None:
    table = build_table([
        ingress("newer", [rule("a.example.com", ("Exact", "/", "a"))], default="newer-default",
                created="2024-02-01T00:00:00Z"),
        ingress("older", default="older-default", created="2024-01-01T00:00:00Z"),
    ])
    # A host of an Ingress with a defaultBackend: that one; anything else: the oldest default.
    assert table.match("a.example.com", "/").backend.service == "a"  # type: ignore[union-attr]
    assert table.match("a.example.com", "/x").backend.service == "newer-default"  # type: ignore[union-attr]
    assert table.match("b.example.com", "/x").backend.service == "older-default"  # type: ignore[union-attr]
    assert build_table([ingress("only", [rule("a.example.com", ("Prefix", "/", "a"))])]).match("b", "/") is None


def test_oldest_ingress_wins_a_duplicate_path() -> None:
    table = build_table([
        ingress("young", [rule("h", ("Prefix", "/", "young"))], created="2024-03-01T00:00:00Z"),
        ingress("old", [rule("h", ("Prefix", "/", "old"))], created="2023-03-01T00:00:00Z"),
    ])
    assert table.match("h", "/").backend.service == "old"  # type: ignore[union-attr]


def test_ports_by_name_and_number_and_backend_list() -> None:
    ing = ingress("ing", [{"host": "h", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": backend("web", "http")},
        {"path": "/x", "pathType": "Prefix", "backend": backend("web", 8080)},
        {"path": "/y", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket", "name": "b"}}},
    ]}}], default="web")
    assert ingress_backends(ing) == [BackendRef("default", "web", 0, "http"), BackendRef("default", "web", 8080),
                                     BackendRef("default", "web", 80)]
    assert build_table([ing]).match("h", "/y/z").backend is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("class_name", "annotation", "ours"), [
    (None, None, True), ("gitkube", None, True), ("nginx", None, False), (None, "gitkube", True), (None, "nginx", False),
])
def test_serves_by_class(class_name: str | None, annotation: str | None, ours: bool) -> None:
    ing = ingress("ing", default="svc")
    if class_name:
        ing["spec"]["ingressClassName"] = class_name
    if annotation:
        ing["metadata"]["annotations"] = {"kubernetes.io/ingress.class": annotation}
    assert serves(ing) is ours
