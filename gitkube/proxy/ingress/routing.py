"""The Ingress route table: which Service port a request's host and path go to.

Pure (no I/O). :func:`build_table` turns the served Ingresses into a :class:`RouteTable`;
:meth:`RouteTable.match` answers one request. Matching follows the Kubernetes Ingress
documentation:

- hosts: a rule's ``host`` matches the request host exactly, or, written ``*.example.com``,
  matches exactly one more DNS label (``a.example.com``, not ``example.com`` nor
  ``b.a.example.com``); a rule without host matches every host. The most specific kind of
  host that has any rule is chosen (exact, then wildcard, then catch-all), as nginx chooses a
  server block; there is no falling through to a less specific host when no path matches;
- paths: ``Exact`` matches the path string exactly (case sensitive); ``Prefix`` (and
  ``ImplementationSpecific``, treated as Prefix) matches element-wise on ``/``-separated
  elements, so ``/aaa/bbb`` matches ``/aaa/bbb``, ``/aaa/bbb/`` and ``/aaa/bbb/ccc`` but not
  ``/aaa/bbbxyz``, and a trailing ``/`` in the rule is ignored. The longest match wins;
  on equal length Exact beats Prefix, then the oldest Ingress wins;
- nothing matched: the ``defaultBackend`` of the oldest Ingress with rules for the chosen
  host that has one, else the oldest ``defaultBackend`` of any served Ingress, else none
  (the caller answers 404).

:func:`serves` says whether gitkube serves an Ingress (``ingressClassName`` ``gitkube`` or
unset, the same for the legacy ``kubernetes.io/ingress.class`` annotation). Used by
:mod:`gitkube.proxy.ingress.proxy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLASS_ANNOTATION",
    "INGRESS_CLASS",
    "BackendRef",
    "Route",
    "RouteTable",
    "build_table",
    "host_matches",
    "ingress_backends",
    "normalize_host",
    "path_matches",
    "serves",
]

INGRESS_CLASS = "gitkube"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"

Obj = Mapping[str, Any]


@dataclass(frozen=True, order=True)
class BackendRef:
    """A Service port an Ingress points at: by number (``port``) or by name (``port_name``)."""

    namespace: str
    service: str
    port: int = 0
    port_name: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port_name or self.port}"


@dataclass(frozen=True)
class Route:
    """One ``host``/``path`` rule path of an Ingress, or its default backend (``path_type`` "")."""

    ingress: str  # namespace/name
    host: str
    path: str
    path_type: str
    backend: BackendRef | None  # None: a resource backend, which gitkube cannot serve
    rank: tuple[str, str, str] = ("", "", "")  # (creationTimestamp, namespace, name): oldest first


def serves(ingress: Obj, ingress_class: str = INGRESS_CLASS) -> bool:
    """Whether the Ingress is ours: its class (field or legacy annotation) is ``ingress_class`` or unset."""
    spec = ingress.get("spec") or {}
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    name = spec.get("ingressClassName") or annotations.get(CLASS_ANNOTATION)
    return name in (None, "", ingress_class)


def normalize_host(host: str) -> str:
    """The host of a ``Host`` header: lower case, without port, brackets or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host[1:]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def host_matches(rule_host: str, host: str) -> bool:
    """Whether a rule's host (exact or ``*.`` wildcard; ``""`` for any) matches a normalized host."""
    if not rule_host:
        return True
    rule_host = rule_host.lower()
    if rule_host.startswith("*."):
        suffix = rule_host[1:]
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and "." + rest == suffix
    return rule_host == host


def _elements(path: str) -> list[str]:
    return [e for e in path.split("/") if e]


def path_matches(path_type: str, rule_path: str, path: str) -> bool:
    """Whether an Ingress path (Exact, Prefix or ImplementationSpecific) matches a request path."""
    if path_type == "Exact":
        return rule_path == path
    prefix = _elements(rule_path or "/")
    return _elements(path)[:len(prefix)] == prefix


def _specificity(route: Route) -> tuple[int, int, int]:
    if route.path_type == "Exact":
        return (len(_elements(route.path)), len(route.path), 1)
    return (len(_elements(route.path or "/")), len(route.path.rstrip("/")), 0)


def _backend_ref(namespace: str, backend: Any) -> BackendRef | None:
    service = backend.get("service") if isinstance(backend, Mapping) else None
    if not isinstance(service, Mapping) or not service.get("name"):
        return None
    port = service.get("port") or {}
    number = port.get("number")
    return BackendRef(namespace, str(service["name"]), number if isinstance(number, int) else 0,
                      str(port.get("name") or ""))


def _rank(ingress: Obj) -> tuple[str, str, str]:
    m = ingress.get("metadata") or {}
    return (str(m.get("creationTimestamp") or ""), str(m.get("namespace") or ""), str(m.get("name") or ""))


def _routes_of(ingress: Obj) -> tuple[list[Route], Route | None]:
    m = ingress.get("metadata") or {}
    namespace = str(m.get("namespace") or "default")
    key = f"{namespace}/{m.get('name')}"
    rank = _rank(ingress)
    spec = ingress.get("spec") or {}
    routes: list[Route] = []
    for rule in spec.get("rules") or []:
        host = str(rule.get("host") or "").lower()
        for item in (rule.get("http") or {}).get("paths") or []:
            path_type = str(item.get("pathType") or "ImplementationSpecific")
            path = str(item.get("path") or ("/" if path_type != "Exact" else ""))
            routes.append(Route(key, host, path, path_type, _backend_ref(namespace, item.get("backend")), rank))
    default = None
    if spec.get("defaultBackend") is not None:
        default = Route(key, "", "", "", _backend_ref(namespace, spec["defaultBackend"]), rank)
    return routes, default


def ingress_backends(ingress: Obj) -> list[BackendRef]:
    """Every service backend an Ingress names (rules and default backend), without duplicates."""
    routes, default = _routes_of(ingress)
    refs = [r.backend for r in [*routes, *([default] if default else [])] if r.backend is not None]
    return list(dict.fromkeys(refs))


@dataclass
class RouteTable:
    """The routes of every served Ingress, grouped by host, ready for :meth:`match`."""

    exact: dict[str, list[Route]] = field(default_factory=dict)
    wildcard: dict[str, list[Route]] = field(default_factory=dict)  # keyed by the suffix ".example.com"
    any_host: list[Route] = field(default_factory=list)
    host_defaults: dict[str, Route] = field(default_factory=dict)  # per rule host ("" too): oldest default
    default: Route | None = None

    def _host_routes(self, host: str) -> tuple[str, list[Route]] | None:
        if host in self.exact:
            return host, self.exact[host]
        label, dot, rest = host.partition(".")
        if label and dot and "." + rest in self.wildcard:
            return "*." + rest, self.wildcard["." + rest]
        if self.any_host:
            return "", self.any_host
        return None

    def match(self, host: str, path: str) -> Route | None:
        """The route for a request to ``host`` (normalized) and ``path``, or None (404)."""
        found = self._host_routes(host)
        if found is None:
            return self.default
        rule_host, routes = found
        for route in routes:  # sorted most specific first
            if path_matches(route.path_type, route.path, path):
                return route
        return self.host_defaults.get(rule_host, self.default)

    def hosts(self) -> list[str]:
        """Every rule host, exact and wildcard (for the TLS certificate table and diagnostics)."""
        return sorted([*self.exact, *("*" + s for s in self.wildcard)])


def build_table(ingresses: Iterable[Obj]) -> RouteTable:
    """The route table of ``ingresses`` (already filtered by :func:`serves`)."""
    table = RouteTable()
    defaults: list[Route] = []
    for ingress in sorted(ingresses, key=_rank):
        routes, default = _routes_of(ingress)
        if default is not None:
            defaults.append(default)
        for route in routes:
            if not route.host:
                table.any_host.append(route)
            elif route.host.startswith("*."):
                table.wildcard.setdefault(route.host[1:], []).append(route)
            else:
                table.exact.setdefault(route.host, []).append(route)
            if default is not None:
                table.host_defaults.setdefault(route.host, default)
    table.default = defaults[0] if defaults else None

    def order(routes: list[Route]) -> None:
        # Stable sort: among equally specific routes the oldest Ingress (inserted first) stays first.
        routes.sort(key=_specificity, reverse=True)

    for group in (*table.exact.values(), *table.wildcard.values(), table.any_host):
        order(group)
    return table
