"""gitkube.store.keyspace: prefix bounds, continue tokens and Kubernetes-worded store errors."""

from __future__ import annotations

import base64
import json
import sys

import pytest

from gitkube import errors
from gitkube.store import keyspace


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/registry/core/pods/", "/registry/core/pods0"),
        ("a", "b"),
        ("ab", "ac"),
        ("", None),
        (chr(sys.maxunicode), None),
        ("a" + chr(sys.maxunicode), "b"),
        ("x\ud7ff", "x\ue000"),  # skips the surrogate block, which is not UTF-8
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert keyspace.prefix_end(prefix) == end


@pytest.mark.parametrize("key", ["/registry/core/pods/", "/registry/core/pods/ns/a", "/registry/core/pods/\U0010ffff"])
def test_prefix_end_bounds_every_key_with_the_prefix(key: str) -> None:
    end = keyspace.prefix_end("/registry/core/pods/")
    assert end is not None
    assert "/registry/core/pods/" <= key < end
    assert key.encode() < end.encode(), "the bound holds in UTF-8 byte order too"
    assert not ("/registry/core/podsx/a" < end), "a longer collection name is outside"


def test_continue_token_round_trip() -> None:
    token = keyspace.encode_continue(42, "/registry/core/pods/ns/b")
    assert "=" not in token and "+" not in token and "/" not in token
    assert keyspace.decode_continue(token, "/registry/core/pods/") == keyspace.ContinueToken(42, "/registry/core/pods/ns/b")


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("@@@", "continue key is not valid"),
        (_b64("text"), "server does not recognize this encoded version"),
        (_b64({"v": "v1alpha1", "rv": 1, "start": "/registry/core/pods/a"}), "does not recognize"),
        (_b64({"v": "meta.k8s.io/v1", "rv": 0, "start": "/registry/core/pods/a"}), "incorrect encoded start resourceVersion"),
        (_b64({"v": "meta.k8s.io/v1", "rv": "5", "start": "/registry/core/pods/a"}), "incorrect encoded start resourceVersion"),
        (_b64({"v": "meta.k8s.io/v1", "rv": True, "start": "/registry/core/pods/a"}), "incorrect encoded start resourceVersion"),
        (_b64({"v": "meta.k8s.io/v1", "rv": 5, "start": ""}), "encoded start key empty"),
        (_b64({"v": "meta.k8s.io/v1", "rv": 5, "start": "/registry/core/secrets/a"}), "outside the listed collection"),
    ],
)
def test_bad_continue_tokens(token: str, fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        keyspace.decode_continue(token, "/registry/core/pods/")
    assert fragment in info.value.message
    assert info.value.message.startswith("continue key is not valid")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("/registry/core/pods/ns/web", ("pods", "", "web")),
        ("/registry/apps/deployments/ns/web", ("deployments", "apps", "web")),
        ("/registry/core/namespaces/prod", ("namespaces", "", "prod")),
        ("/registry/core/pods/", ("", "", "/registry/core/pods/")),
        ("plain", ("", "", "plain")),
    ],
)
def test_resource_of(key: str, expected: tuple[str, str, str]) -> None:
    assert keyspace.resource_of(key) == expected


def test_errors_render_kubernetes_status_details() -> None:
    status = keyspace.conflict("/registry/apps/deployments/ns/web").to_status()
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    assert status["message"].startswith('Operation cannot be fulfilled on deployments.apps "web": ')
    assert keyspace.already_exists("/registry/core/namespaces/prod").message == 'namespaces "prod" already exists'
    assert keyspace.not_found("/registry/core/pods/ns/a").to_status()["details"] == {"name": "a", "kind": "pods"}
