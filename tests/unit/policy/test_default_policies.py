"""The default policies in policies/: each with a passing and a failing manifest, evaluated with
gitkube.policy directly (no server)."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml

from gitkube.policy.compiler import compile_policy
from gitkube.policy.evaluate import Decision, evaluate_binding
from gitkube.policy.match import Attributes

POLICIES = pathlib.Path(__file__).resolve().parents[3] / "policies"


def _load(name: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    docs = list(yaml.safe_load_all((POLICIES / name).read_text()))
    policy = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicy")
    binding = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding")
    return policy, binding, [d for d in docs if d["kind"] == "ConfigMap"]


def _container(name: str = "web", image: str = "nginx:1.27", resources: bool = True) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image}
    if resources:
        c["resources"] = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}
    return c


def _deployment(*, containers: list[dict[str, Any]] | None = None, replicas: int = 2,
                labels: dict[str, str] | None = None, volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": containers or [_container()]}
    if volumes is not None:
        pod_spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop",
                     "labels": {"app.kubernetes.io/name": "web"} if labels is None else labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}},
    }


def _attrs(obj: dict[str, Any], operation: str = "CREATE") -> Attributes:
    group, _, version = obj["apiVersion"].rpartition("/")
    plural = {"Deployment": "deployments", "Pod": "pods", "CronJob": "cronjobs"}[obj["kind"]]
    return Attributes(operation=operation, group=group, version=version, kind=obj["kind"], resource=plural,
                      name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace", ""), object=obj,
                      username="alice")


def _run(file: str, obj: dict[str, Any], params: list[dict[str, Any]] | None = None) -> list[Decision]:
    policy, binding, shipped = _load(file)
    return evaluate_binding(compile_policy(policy), binding, _attrs(obj), shipped if params is None else params)


def test_every_default_policy_compiles_and_has_a_binding() -> None:
    files = sorted(p.name for p in POLICIES.glob("*.yaml"))
    assert len(files) == 5
    for name in files:
        policy, binding, _ = _load(name)
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
        compile_policy(policy)


def test_latest_tag_refused_pinned_accepted() -> None:
    assert _run("disallow-latest-tag.yaml", _deployment()) == []
    digest = _container(image="registry.local:5000/nginx@sha256:" + "a" * 64)
    assert _run("disallow-latest-tag.yaml", _deployment(containers=[digest])) == []
    for image in ("nginx:latest", "nginx", "registry.local:5000/team/nginx"):
        [decision] = _run("disallow-latest-tag.yaml", _deployment(containers=[_container(image=image)]))
        assert decision.action == "Deny" and decision.reason == "Forbidden"
        assert decision.message == ("container images must be pinned to a tag other than latest (or a digest): "
                                    f"web={image}")


def test_latest_tag_checks_pods_init_containers_and_cronjobs() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [_container()], "initContainers": [_container("init", "busybox:latest")]}}
    assert [d.message.split(": ")[1] for d in _run("disallow-latest-tag.yaml", pod)] == ["init=busybox:latest"]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "shop"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [_container(image="alpine")]}}}}}}
    assert len(_run("disallow-latest-tag.yaml", cron)) == 1


def test_resources_required_warns() -> None:
    assert _run("require-resources.yaml", _deployment()) == []
    partial = _container("side")
    del partial["resources"]["limits"]["cpu"]
    decisions = _run("require-resources.yaml", _deployment(containers=[_container(), partial,
                                                                         _container("bare", resources=False)]))
    assert [d.action for d in decisions] == ["Warn", "Audit"]
    assert decisions[0].message == "containers must declare cpu and memory requests and limits: side, bare"


def test_hostpath_only_under_the_allow_list() -> None:
    ok = [{"name": "logs", "hostPath": {"path": "/var/log/app"}}, {"name": "tmp", "emptyDir": {}}]
    assert _run("hostpath-allowlist.yaml", _deployment(volumes=ok)) == []
    bad = [{"name": "root", "hostPath": {"path": "/etc"}}, {"name": "sneaky", "hostPath": {"path": "/var/logs"}}]
    [decision] = _run("hostpath-allowlist.yaml", _deployment(volumes=bad))
    assert decision.action == "Deny"
    assert decision.message == "hostPath volumes must be under one of [/var/log, /data]: root=/etc, sneaky=/var/logs"
    # the allow list comes from the params ConfigMap: an edited list changes the verdict
    params = [{"apiVersion": "v1", "kind": "ConfigMap", "data": {"allowedPrefixes": "/etc/"}}]
    assert len(_run("hostpath-allowlist.yaml", _deployment(volumes=bad), params)) == 1
    assert _run("hostpath-allowlist.yaml", _deployment(volumes=bad[:1]), params) == []
    # no params ConfigMap at all: parameterNotFoundAction Deny
    [missing] = _run("hostpath-allowlist.yaml", _deployment(volumes=ok), [])
    assert "no params found" in missing.message


def test_app_name_label_required() -> None:
    assert _run("require-app-name-label.yaml", _deployment()) == []
    decisions = _run("require-app-name-label.yaml", _deployment(labels={"app": "web"}))
    assert [d.action for d in decisions] == ["Warn", "Audit"]
    assert decisions[0].message == "Deployment web must carry the app.kubernetes.io/name label"


def test_replica_cap_through_params() -> None:
    cap = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gitkube-replica-cap", "namespace": "shop"},
            "data": {"maxReplicas": "3"}}]
    assert _run("replica-cap.yaml", _deployment(replicas=3), cap) == []
    [decision] = _run("replica-cap.yaml", _deployment(replicas=4), cap)
    assert decision.action == "Deny"
    assert decision.message == "replicas 4 exceed the cap of 3 for namespace shop"
    # a namespace without the ConfigMap is not capped
    assert _run("replica-cap.yaml", _deployment(replicas=40), []) == []


def test_updates_are_checked_deletes_are_not() -> None:
    policy, binding, _ = _load("disallow-latest-tag.yaml")
    bad = _deployment(containers=[_container(image="nginx:latest")])
    compiled = compile_policy(policy)
    assert len(evaluate_binding(compiled, binding, _attrs(bad, "UPDATE"))) == 1
    delete = _attrs(bad, "DELETE")
    assert evaluate_binding(compiled, binding, Attributes(**{**delete.__dict__, "object": None,
                                                             "old_object": copy.deepcopy(bad)})) == []


@pytest.mark.parametrize("file", ["disallow-latest-tag.yaml", "require-resources.yaml"])
def test_other_kinds_are_not_matched(file: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}
    policy, binding, _ = _load(file)
    attrs = Attributes(operation="CREATE", group="", version="v1", kind="ConfigMap", resource="configmaps",
                       name="x", namespace="shop", object=cm)
    assert evaluate_binding(compile_policy(policy), binding, attrs) == []
