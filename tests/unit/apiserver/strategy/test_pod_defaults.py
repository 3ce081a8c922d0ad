"""Pod and PodSpec defaulting, field by field, as Kubernetes 1.32 applies it."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.apiserver.strategy.pod_defaults import image_pull_policy, pod_qos_class

from . import container, defaulted, pod


def test_pod_spec_defaults() -> None:
    obj = defaulted("Pod", pod())
    spec = obj["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    ctr = spec["containers"][0]
    assert ctr["imagePullPolicy"] == "IfNotPresent"
    assert ctr["terminationMessagePath"] == "/dev/termination-log"
    assert ctr["terminationMessagePolicy"] == "File"
    assert ctr["resources"] == {}


def test_explicit_values_are_kept() -> None:
    obj = defaulted("Pod", pod(restartPolicy="Never", dnsPolicy="Default", terminationGracePeriodSeconds=0,
                               enableServiceLinks=False, serviceAccountName="builder", schedulerName="mine",
                               priorityClassName="system-node-critical"))
    spec = obj["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"]) == ("Never", "Default", 0)
    assert spec["enableServiceLinks"] is False
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "builder"
    assert spec["schedulerName"] == "mine"
    assert spec["priority"] == 2000001000


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"),
    ("localhost:5000/nginx:2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("", "IfNotPresent"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_container_nested_defaults() -> None:
    ctr = container(
        ports=[{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
        livenessProbe={"httpGet": {"port": 80}},
        readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 5},
        lifecycle={"preStop": {"httpGet": {"port": 80, "path": "/quit"}}},
        env=[{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
             {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}],
        resources={"limits": {"cpu": "1.5", "memory": "1.5Gi"}, "requests": {"cpu": 0.25}},
    )
    spec = defaulted("Pod", pod(containers=[ctr]))["spec"]
    out = spec["containers"][0]
    assert [p["protocol"] for p in out["ports"]] == ["TCP", "UDP"]
    assert out["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                    "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert out["readinessProbe"]["periodSeconds"] == 5
    assert out["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/quit", "scheme": "HTTP"}
    assert out["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}
    assert out["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"] == "0"
    # canonical quantities; requests default from limits on Pods only
    assert out["resources"] == {"limits": {"cpu": "1500m", "memory": "1536Mi"},
                                "requests": {"cpu": "250m", "memory": "1536Mi"}}


def test_volume_defaults() -> None:
    vols = [{"name": "scratch"},
            {"name": "cfg", "configMap": {"name": "c"}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
            {"name": "host", "hostPath": {"path": "/tmp"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
            {"name": "mem", "emptyDir": {"sizeLimit": "1.5Gi"}}]
    spec = defaulted("Pod", pod(volumes=vols))["spec"]
    by_name = {v["name"]: v for v in spec["volumes"]}
    assert by_name["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert by_name["cfg"]["configMap"]["defaultMode"] == 420
    assert by_name["sec"]["secret"]["defaultMode"] == 0o400
    assert by_name["host"]["hostPath"]["type"] == ""
    assert by_name["info"]["downwardAPI"]["defaultMode"] == 420
    assert by_name["info"]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
    assert by_name["proj"]["projected"]["defaultMode"] == 420
    assert by_name["proj"]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600
    assert by_name["mem"]["emptyDir"]["sizeLimit"] == "1536Mi"


def test_host_network_ports_and_templates() -> None:
    spec = defaulted("Pod", pod(hostNetwork=True, containers=[container(ports=[{"containerPort": 8080}])]))["spec"]
    assert spec["containers"][0]["ports"][0]["hostPort"] == 8080
    template_spec = defaulted("Deployment", {"metadata": {"name": "d", "namespace": "n"},
                                             "spec": {"template": {"spec": {"containers": [container()]}}}})
    tspec = template_spec["spec"]["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and tspec["terminationGracePeriodSeconds"] == 30
    for pod_only in ("enableServiceLinks", "serviceAccountName", "priority", "preemptionPolicy"):
        assert pod_only not in tspec  # these are Pod-only (SetDefaults_Pod / admission), not template defaults


@pytest.mark.parametrize(("resources", "qos"), [
    ([{}], "BestEffort"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),  # requests defaulted from limits
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {"requests": {"memory": "1Gi"}}], "Burstable"),
    ([{"limits": {"cpu": "1"}}], "Burstable"),
])
def test_qos_class(resources: list[dict[str, Any]], qos: str) -> None:
    ctrs = [container(name=f"c{i}", resources=r) for i, r in enumerate(resources)]
    obj = defaulted("Pod", pod(containers=ctrs))
    assert obj["status"]["qosClass"] == qos
    assert pod_qos_class(obj["spec"]) == qos


def test_defaulting_is_idempotent_and_keeps_status() -> None:
    once = defaulted("Pod", pod())
    assert defaulted("Pod", once) == once
    running = defaulted("Pod", {**pod(), "status": {"phase": "Running", "qosClass": "Burstable"}})
    assert running["status"] == {"phase": "Running", "qosClass": "Burstable"}
