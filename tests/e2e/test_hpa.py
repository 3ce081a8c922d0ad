"""Issue 6 end to end: metrics.k8s.io and the HorizontalPodAutoscaler with real pods.

One daemon with a local node sampling every second and an HPA sync period of one second;
real kubectl. ``kubectl top pods|nodes`` print numbers; a Deployment whose pods burn CPU
(a duty-cycled busy loop, ~150m against a 100m request) is scaled up from 1 by an HPA at
50% utilization, then back down to 1 after a second version that only sleeps rolls out
(scale-down stabilization window of 3 s in the HPA's behavior).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import ensure_namespace, reap_containers

pytestmark = pytest.mark.e2e

DAEMON_ARGS = ["--node-name", "hpa-node", "--service-cidr", "127.84.0.0/16", "--cluster-cidr", "127.64.0.0/12",
               "--metric-resolution", "1s", "--horizontal-pod-autoscaler-sync-period", "1s"]
NS = "hpa"

BURNER = r"""
import os, time
duty = float(os.environ["DUTY"])
print("burning at", duty, flush=True)
while True:
    start = time.monotonic()
    while time.monotonic() - start < 0.1 * duty:
        pass
    time.sleep(0.1 * (1 - duty))
"""


def deployment(duty: float) -> str:
    container = {"name": "burn", "image": "python:3.11", "command": [sys.executable, "-c", BURNER],
                 "env": [{"name": "DUTY", "value": str(duty)}],
                 "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burn"},
        "spec": {"selector": {"matchLabels": {"app": "burn"}},
                 "template": {"metadata": {"labels": {"app": "burn"}},
                              "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}},
    })


HPA = json.dumps({
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "burn"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burn"},
             "minReplicas": 1, "maxReplicas": 3,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                           "target": {"type": "Utilization", "averageUtilization": 50}}}],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 3,
                                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}]}}},
})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl]]:
    data = tmp_path_factory.mktemp("hpa") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    try:
        wait_for(lambda: "Ready" in k.run("get", "node", "hpa-node", check=False).stdout.split(), timeout=30,
                 what="hpa-node Ready")
        ensure_namespace(k, NS)
        yield d, k
    finally:
        stop_daemon(d)
        reap_containers(data)


def hpa_status(k: Kubectl) -> dict:
    return dict(get_json(k, "-n", NS, "hpa", "burn").get("status") or {})


def test_top_and_hpa_scale_up_and_down(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    k.run("-n", NS, "apply", "-f", "-", input=deployment(0.15))
    k.run("-n", NS, "rollout", "status", "deploy/burn", "--timeout=60s", timeout=90)

    # kubectl top: the metrics API answers once the agent has two samples of the pod
    def top_pods() -> str | None:
        out = k.run("-n", NS, "top", "pods", "--no-headers", check=False)
        rows = [line.split() for line in out.stdout.splitlines() if line.startswith("burn-")]
        return out.stdout if rows and all(re.fullmatch(r"\d+m", r[1]) and re.fullmatch(r"\d+Mi", r[2])
                                          for r in rows) else None

    wait_for(top_pods, timeout=30, what="kubectl top pods")
    millicores = int(top_pods().split()[1][:-1])  # type: ignore[union-attr]
    assert 50 <= millicores <= 400, millicores  # ~150m of busy loop (machine shared: generous)
    name = top_pods().split()[0]  # type: ignore[union-attr]
    assert k.run("-n", NS, "top", "pod", name, "--no-headers").stdout.split()[0] == name
    pods = get_json(k, "-n", NS, "pods")  # "pods" still means core pods, not metrics.k8s.io's
    assert pods["items"] and pods["items"][0]["kind"] == "Pod"
    nodes = k.run("top", "nodes", "--no-headers").stdout.split()
    assert nodes[0] == "hpa-node" and re.fullmatch(r"\d+m", nodes[1]) and nodes[2].endswith("%")
    assert re.fullmatch(r"\d+Mi", nodes[3]), nodes

    # the HPA scales the burning Deployment up from 1
    k.run("-n", NS, "apply", "-f", "-", input=HPA)
    wait_for(lambda: get_json(k, "-n", NS, "deploy", "burn")["spec"]["replicas"] >= 2, timeout=60,
             what="scale up")
    status = hpa_status(k)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["AbleToScale"]["status"] == "True"
    assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] > 55
    assert status["lastScaleTime"]
    events = get_json(k, "-n", NS, "events", "--field-selector", "reason=SuccessfulRescale")["items"]
    assert any(re.fullmatch(r"New size: [23]; reason: cpu resource utilization \(percentage of request\) above "
                            r"target", e["message"]) for e in events), [e["message"] for e in events]
    table = k.run("-n", NS, "get", "hpa", "burn").stdout
    assert re.search(r"cpu: \d+%/50%", table), table

    # the load stops (a version that sleeps): back to minReplicas after the 3 s window
    k.run("-n", NS, "apply", "-f", "-", input=deployment(0.0))
    wait_for(lambda: get_json(k, "-n", NS, "deploy", "burn")["spec"]["replicas"] == 1, timeout=90,
             what="scale down to 1")
    events = get_json(k, "-n", NS, "events", "--field-selector", "reason=SuccessfulRescale")["items"]
    assert any(e["message"] == "New size: 1; reason: All metrics below target" for e in events)


def test_hpa_with_a_missing_target_reports_failed_get_scale(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    bad = json.loads(HPA)
    bad["metadata"]["name"] = "ghost"
    bad["spec"]["scaleTargetRef"]["name"] = "ghost"
    k.run("-n", NS, "apply", "-f", "-", input=json.dumps(bad))

    def failed() -> dict | None:
        conds = (get_json(k, "-n", NS, "hpa", "ghost").get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "AbleToScale" and c["reason"] == "FailedGetScale"), None)

    cond = wait_for(failed, timeout=20, what="FailedGetScale")
    assert cond["status"] == "False" and 'deployments.apps "ghost" not found' in cond["message"]
    assert get_json(k, "-n", NS, "deploy", "burn")["spec"]["replicas"] >= 1  # nothing else disturbed
