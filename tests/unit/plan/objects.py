"""Desired objects (as manifests write them) shared by the plan tests."""

from __future__ import annotations

import copy
from typing import Any


def deployment(image: str = "nginx:1.25", replicas: int = 2, env: dict[str, str] | None = None) -> dict[str, Any]:
    envs = [{"name": k, "value": v} for k, v in (env if env is not None else {"MODE": "prod", "LOG": "info"}).items()]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": image, "args": ["--port", "8080"],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "env": envs,
                    "resources": {"requests": {"cpu": "0.25", "memory": "0.5Gi"}, "limits": {"cpu": 1}},
                    "readinessProbe": {"httpGet": {"port": 8080}},
                }]},
            },
        },
    }


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}


def configmap() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": "shop"},
            "data": {"greeting": "hello", "size": "3"}}


def secret() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
            "stringData": {"password": "hunter2"}, "data": {"user": "YWRtaW4="}}


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def service_account() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "shop"}}


def pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tool", "namespace": "shop"},
            "spec": {"containers": [{"name": "tool", "image": "busybox", "command": ["sleep", "3600"],
                                     "resources": {"limits": {"memory": "64Mi", "cpu": "100m"}}}]}}


def policy() -> dict[str, Any]:
    """A ValidatingAdmissionPolicy whose match rules the server defaults inside atomic values."""
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "owner"},
            "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                             "operations": ["CREATE"], "resources": ["deployments"]}]},
                     "validations": [{"expression": "true"}]}}


def policy_binding() -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "owner"},
            "spec": {"policyName": "owner", "validationActions": ["Deny"],
                     "matchResources": {"namespaceSelector": {"matchLabels": {"team": "a"}}}}}


ALL = {"Deployment": deployment, "Service": service, "ConfigMap": configmap, "Secret": secret,
       "Namespace": namespace, "ServiceAccount": service_account, "Pod": pod,
       "ValidatingAdmissionPolicy": policy, "ValidatingAdmissionPolicyBinding": policy_binding}


def copy_of(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
