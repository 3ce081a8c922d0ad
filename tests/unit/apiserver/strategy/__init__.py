"""Helpers shared by the strategy tests: minimal valid objects and a default-then-validate runner."""

from __future__ import annotations

import copy
from typing import Any

from gitkube.api import scheme
from gitkube.apiserver import strategy
from gitkube.errors import Cause

__all__ = ["causes_of", "container", "defaulted", "deployment", "info", "job", "pod", "pod_template", "run", "service"]

UID = "9f3c1c1e-0000-4000-8000-000000000001"


def info(kind: str) -> scheme.ResourceInfo:
    return next(r for r in scheme.ALL_RESOURCES if r.kind == kind)


def defaulted(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    strategy.default(info(kind), out)
    return out


def run(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """Default ``obj`` (and ``old``) as the registry would, then validate."""
    new = defaulted(kind, obj)
    previous = defaulted(kind, old) if old is not None else None
    return strategy.validate(info(kind), new, previous)


def causes_of(causes: list[Cause], field: str) -> list[str]:
    return [c.message for c in causes if c.field == field]


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.25", **extra}


def pod_template(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels if labels is not None else {"app": "web"}},
            "spec": {"containers": [container()], **spec}}


def pod(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [container()]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": body}


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template()}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": body}


def service(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": body}


def job(name: str = "pi", uid: str = UID, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"template": {"spec": {"containers": [container()], "restartPolicy": "Never"}}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": uid}, "spec": body}
