"""Issue 5 end to end: quota at the rollout peak, pod fit and the repo's own policies, checked at push.

One daemon with a local node serves its hosted repository; a working clone pushes to it with the
real git CLI. The tests run in file order and build on each other: a namespace with a
ResourceQuota (requests.cpu 1) and a LimitRange, and a Deployment of two 400m pods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gitkube.testing.servers import server_container
from tests.e2e.conftest import Kubectl
from tests.e2e.test_gitops import Env, git, gitkube, gitops_env
from tests.e2e.test_kubectl import get_json, wait_for

pytestmark = pytest.mark.e2e

DAEMON_ARGS = ["--node-name", "quota-node", "--crashloop-backoff", "1s", "--rollout-timeout", "60s",
               "--service-cidr", "127.82.0.0/16", "--cluster-cidr", "127.116.0.0/14"]
NS = "team"

QUOTA = f"""apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: {NS}
spec:
  hard:
    requests.cpu: "1"
    pods: "10"
"""

LIMITS = f"""apiVersion: v1
kind: LimitRange
metadata:
  name: limits
  namespace: {NS}
spec:
  limits:
    - type: Container
      defaultRequest: {{cpu: 100m, memory: 32Mi}}
      default: {{cpu: 400m, memory: 128Mi}}
      max: {{cpu: "1"}}
"""


def web(version: str, replicas: int = 2, cpu: str = "400m", surge: int = 1, unavailable: int = 0,
        labels: dict[str, str] | None = None, namespace: str = NS) -> str:
    container = server_container(version, resources={"requests": {"cpu": cpu, "memory": "32Mi"},
                                                      "limits": {"cpu": cpu, "memory": "64Mi"}})
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels or {}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}},
    }, indent=2)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with gitops_env(tmp_path_factory, "quota", DAEMON_ARGS, "quota-node") as e:
        yield e


def head(env: Env) -> str:
    return git(env.hosted, "rev-parse", "main", check=False).stdout.strip()


def refused(env: Env, message: str, *needles: str) -> str:
    """Commit, push, and check the push is refused with every needle in its output and the ref kept."""
    before = head(env)
    sha = env.commit(message)
    push = env.push(check=False)
    out = push.stderr
    assert push.returncode != 0, out
    assert "push refused" in out, out
    for needle in needles:
        assert needle in out, out
    assert head(env) == before
    diff = gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir), "-o", "json")
    assert diff.returncode == 2, diff.stdout + diff.stderr
    doc = json.loads(diff.stdout)
    for needle in needles:
        assert any(needle in p for p in doc["problems"]), (needle, doc["problems"])
    git(env.work, "reset", "-q", "--hard", before or "HEAD~1")
    return sha


def test_a_commit_within_quota_deploys(env: Env) -> None:
    env.write("team/namespace.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    env.write("team/quota.yaml", QUOTA)
    env.write("team/limits.yaml", LIMITS)
    env.write("team/web.yaml", web("v1"))
    sha = env.commit("team: web v1 under a 1-cpu quota")
    push = env.push()
    assert "pre-flight passed" in push.stderr, push.stderr
    assert f"Synced {sha[:12]}" in push.stderr, push.stderr
    wait_for(lambda: get_json(env.kubectl, "-n", NS, "resourcequota", "compute").get("status", {})
             .get("used", {}).get("requests.cpu") == "800m", timeout=20, what="quota used 800m")


def test_an_over_quota_commit_is_refused_at_push_with_the_numbers(env: Env) -> None:
    env.write("team/web.yaml", web("v1", replicas=3))
    refused(env, "web: three replicas",
            "namespace team: exceeded quota: compute after the sync, requested: requests.cpu=400m, "
            "used: requests.cpu=800m, limited: requests.cpu=1")


def test_a_commit_that_fits_at_rest_but_not_while_it_surges_is_refused(env: Env) -> None:
    env.write("team/web.yaml", web("v2"))
    sha = refused(env, "web v2 with maxSurge 1",
                  "exceeded quota: compute at the peak of the rollout (Deployment web maxSurge 1); it fits at rest",
                  "requested: requests.cpu=400m, used: requests.cpu=800m, limited: requests.cpu=1")
    text = gitkube("diff", "--repo", str(env.work), "--data-dir", str(env.daemon.data_dir), "--rev", sha)
    assert text.returncode == 2
    assert "quota team/compute:" in text.stdout and "exceeded" in text.stdout, text.stdout
    row = next(line for line in text.stdout.splitlines() if line.strip().startswith("requests.cpu"))
    assert row.split()[:5] == ["requests.cpu", "800m", "800m", "1200m", "1"], row


def test_the_same_rollout_without_surge_goes_through(env: Env) -> None:
    env.write("team/web.yaml", web("v2", surge=0, unavailable=1))
    sha = env.commit("web v2, replacing one pod at a time")
    push = env.push()
    assert f"Synced {sha[:12]}" in push.stderr, push.stderr
    pods = [p for p in get_json(env.kubectl, "-n", NS, "pods", "-l", "app=web")["items"]
            if not p["metadata"].get("deletionTimestamp")]
    assert {e["value"] for p in pods for e in p["spec"]["containers"][0]["env"] if e["name"] == "VERSION"} == {"v2"}


def test_a_pod_a_limit_range_forbids_is_refused(env: Env) -> None:
    env.write("team/web.yaml", web("v2", replicas=1, cpu="2", surge=0, unavailable=1))
    refused(env, "web asks for 2 cpus", "would be forbidden by LimitRange limits: maximum cpu usage per Container is 1")


def test_pods_that_fit_no_node_are_refused_with_the_schedulers_reason(env: Env) -> None:
    env.write("big/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n")
    env.write("big/web.yaml", web("v1", replicas=1, cpu="4000", namespace="big"))
    refused(env, "a pod bigger than the machine",
            "Deployment.apps big/web: 1 of 1 new pods would not be scheduled: 0/1 nodes are available: "
            "1 Insufficient cpu.")


POLICY = f"""apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: require-owner
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [apps]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [deployments]
  validations:
    - expression: "has(object.metadata.labels) && 'owner' in object.metadata.labels"
      messageExpression: "'deployment ' + object.metadata.name + ' needs an owner label'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: require-owner
spec:
  policyName: require-owner
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: {NS}
"""


def test_a_commit_breaking_its_own_new_policy_is_refused(env: Env) -> None:
    env.write("team/policy.yaml", POLICY)
    env.write("team/web.yaml", web("v3", surge=0, unavailable=1))
    refused(env, "a policy and a web that breaks it",
            "ValidatingAdmissionPolicy 'require-owner' with binding 'require-owner' denied request: "
            "deployment web needs an owner label")


def test_the_policy_lands_and_admission_refuses_kubectl_too(env: Env) -> None:
    env.write("team/policy.yaml", POLICY)
    env.write("team/web.yaml", web("v3", surge=0, unavailable=1, labels={"owner": "shop"}))
    sha = env.commit("require an owner label; web has one")
    push = env.push()
    assert f"Synced {sha[:12]}" in push.stderr, push.stderr
    stray = web("v9", replicas=1, cpu="100m").replace('"name": "web"', '"name": "stray"', 1)
    k: Kubectl = env.kubectl
    proc = k.run("apply", "--server-side", "-f", "-", input=stray, check=False)
    assert proc.returncode != 0
    assert "deployment stray needs an owner label" in proc.stderr, proc.stderr
