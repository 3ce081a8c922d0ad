"""Issue 5 end to end: the default ValidatingAdmissionPolicies of policies/ enforced by a real
daemon's admission for real kubectl. No node: admission alone is under test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon

pytestmark = pytest.mark.e2e

POLICIES = Path(__file__).resolve().parents[2] / "policies"
DAEMON_ARGS = ["--no-local-node", "--service-cidr", "127.81.0.0/16"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl]]:
    data = tmp_path_factory.mktemp("policy") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    try:
        k.run("apply", "-f", str(POLICIES))
        yield d, k
    finally:
        stop_daemon(d)


def deployment(name: str, image: str, *, label: bool = True, resources: bool = True) -> str:
    container: dict[str, object] = {"name": "web", "image": image}
    if resources:
        container["resources"] = {"requests": {"cpu": "50m", "memory": "32Mi"},
                                  "limits": {"cpu": "100m", "memory": "64Mi"}}
    labels = {"app.kubernetes.io/name": name} if label else {}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}},
    })


def test_latest_image_refused_by_admission(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    proc = k.run("apply", "-f", "-", input=deployment("web", "nginx:latest"), check=False)
    assert proc.returncode != 0
    assert ('deployments.apps "web" is forbidden: ValidatingAdmissionPolicy \'gitkube-disallow-latest-tag\' '
            "with binding 'gitkube-disallow-latest-tag' denied request: container images must be pinned to a tag "
            "other than latest (or a digest): web=nginx:latest") in proc.stderr
    assert k.run("get", "deployment", "web", check=False).returncode != 0


def test_compliant_deployment_applies_and_warn_policies_only_warn(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    clean = k.run("apply", "-f", "-", input=deployment("pinned", "nginx:1.27"))
    assert "Warning" not in clean.stderr
    sloppy = k.run("apply", "-f", "-", input=deployment("sloppy", "nginx:1.27", label=False, resources=False))
    assert "deployment.apps/sloppy created" in sloppy.stdout
    assert ("Warning: Validation failed for ValidatingAdmissionPolicy 'gitkube-require-resources' with binding "
            "'gitkube-require-resources': containers must declare cpu and memory requests and limits: web") in sloppy.stderr
    assert "must carry the app.kubernetes.io/name label" in sloppy.stderr


def test_replica_cap_from_namespace_params(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    k.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"maxReplicas": "2"},
                                                 "metadata": {"name": "gitkube-replica-cap", "namespace": "default"}}))
    k.run("apply", "-f", "-", input=deployment("capped", "nginx:1.27"))
    proc = k.run("scale", "deployment", "capped", "--replicas=5", check=False)
    assert proc.returncode != 0
    assert "denied request: replicas 5 exceed the cap of 2 for namespace default" in proc.stderr


def test_policy_whose_cel_does_not_compile_is_refused(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    bad = json.dumps({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "broken"},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                          "operations": ["CREATE"], "resources": ["configmaps"]}]},
                 "validations": [{"expression": "true"}, {"expression": "object.data.size( >"}]},
    })
    proc = k.run("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert ('The ValidatingAdmissionPolicy "broken" is invalid: spec.validations[1].expression: compilation failed: '
            "<input>:1:19: Syntax error") in proc.stderr
    assert k.run("get", "validatingadmissionpolicy", "broken", check=False).returncode != 0
