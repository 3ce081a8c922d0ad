from __future__ import annotations

import pytest

from gitkube import errors
from gitkube.apiserver import requestinfo


@pytest.mark.parametrize(
    "method,path,query,expected",
    [
        ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "pods", "default", None, None)),
        ("GET", "/api/v1/namespaces/default/pods/p", {}, ("get", "pods", "default", "p", None)),
        ("GET", "/api/v1/namespaces/default/pods/p/log", {}, ("get", "pods", "default", "p", "log")),
        ("GET", "/api/v1/pods", {}, ("list", "pods", None, None, None)),
        ("GET", "/api/v1/pods", {"watch": "true"}, ("watch", "pods", None, None, None)),
        ("GET", "/api/v1/watch/namespaces/x/pods", {}, ("watch", "pods", "x", None, None)),
        ("GET", "/api/v1/namespaces", {}, ("list", "namespaces", None, None, None)),
        ("GET", "/api/v1/namespaces/x", {}, ("get", "namespaces", None, "x", None)),
        ("PUT", "/api/v1/namespaces/x/finalize", {}, ("update", "namespaces", None, "x", "finalize")),
        ("PATCH", "/apis/apps/v1/namespaces/a/deployments/web/scale", {}, ("patch", "deployments", "a", "web", "scale")),
        ("POST", "/apis/apps/v1/namespaces/a/deployments", {}, ("create", "deployments", "a", None, None)),
        ("DELETE", "/apis/apps/v1/namespaces/a/deployments", {}, ("deletecollection", "deployments", "a", None, None)),
        ("DELETE", "/api/v1/nodes/n1", {}, ("delete", "nodes", None, "n1", None)),
        ("GET", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", {},
         ("list", "validatingadmissionpolicies", None, None, None)),
    ],
)
def test_parse(method: str, path: str, query: dict[str, str], expected: tuple[object, ...]) -> None:
    ri = requestinfo.parse(method, path, query)
    assert (ri.verb, ri.info.plural, ri.namespace, ri.name, ri.subresource) == expected


@pytest.mark.parametrize(
    "path",
    ["/api/v2/pods", "/apis/apps/v1/namespaces/a/widgets", "/apis/apps/v2/deployments",
     "/api/v1/namespaces/a/nodes/n", "/api/v1/namespaces/a/pods/p/bogus", "/apis/nope/v1/things"],
)
def test_unknown_paths_are_404(path: str) -> None:
    with pytest.raises(errors.NotFound):
        requestinfo.parse("GET", path, {})
