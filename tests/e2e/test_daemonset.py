"""Issue 6 end to end: a DaemonSet runs one real pod on each of two nodes (the daemon's local
node and a second ``gitkube node run`` agent), a template change rolls, and the real kubectl's
``rollout status|history|undo ds/NAME`` work against it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from gitkube.testing.servers import server_container
from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import ensure_namespace, fetch, reap_containers

pytestmark = pytest.mark.e2e

# Own address ranges, so this daemon never collides with another test daemon's VIPs or pod IPs.
DAEMON_ARGS = ["--node-name", "ds-node-1", "--crashloop-backoff", "1s", "--service-cidr", "127.86.0.0/16",
               "--cluster-cidr", "127.16.0.0/12"]
NS = "ds-test"


def daemonset(version: str) -> str:
    container = server_container(version)
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}},
    })


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl]]:
    data = tmp_path_factory.mktemp("daemonset") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    node2: subprocess.Popen[bytes] | None = None
    try:
        k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
        wait_for(lambda: "Ready" in k.run("get", "node", "ds-node-1", check=False).stdout.split(), timeout=30,
                 what="ds-node-1 Ready")
        node2 = subprocess.Popen([sys.executable, "-m", "gitkube", "node", "run", "--name", "ds-node-2",
                                  "--data-dir", str(data), "--crashloop-backoff", "1s", "--heartbeat-interval", "1s"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: "Ready" in k.run("get", "node", "ds-node-2", check=False).stdout.split(), timeout=30,
                 what="ds-node-2 Ready")
        yield d, k
    finally:
        if node2 is not None and node2.poll() is None:
            node2.terminate()
            try:
                node2.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node2.kill()
        stop_daemon(d)
        reap_containers(data)


def _answers(k: Kubectl) -> dict[str, tuple[str, str]]:
    """node name -> (pod name, VERSION) as each running pod answers over HTTP."""
    out: dict[str, tuple[str, str]] = {}
    for pod in get_json(k, "-n", NS, "pods", "-l", "app=agent")["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        name, version, _pid = fetch(f"http://{pod['status']['podIP']}:8080/").split()
        out[pod["spec"]["nodeName"]] = (name, version)
    return out


def _history(k: Kubectl) -> list[str]:
    out = k.run("-n", NS, "rollout", "history", "ds/agent").stdout
    return [line.split()[0] for line in out.splitlines()[2:] if line.strip()]


def test_daemonset_on_two_nodes_rolls_and_undoes(two_nodes: tuple[Daemon, Kubectl]) -> None:
    _, k = two_nodes
    ensure_namespace(k, NS)
    k.run("-n", NS, "apply", "-f", "-", input=daemonset("v1"))
    out = k.run("-n", NS, "rollout", "status", "ds/agent", "--timeout=90s", timeout=120).stdout
    assert 'daemon set "agent" successfully rolled out' in out
    first = _answers(k)
    assert set(first) == {"ds-node-1", "ds-node-2"}
    assert {v for _, v in first.values()} == {"v1"}
    ds = get_json(k, "-n", NS, "ds", "agent")
    assert ds["status"]["desiredNumberScheduled"] == 2 and ds["status"]["numberAvailable"] == 2
    assert ds["status"]["updatedNumberScheduled"] == 2 and ds["status"]["observedGeneration"] == 1

    # A template change rolls: each node gets a new pod answering v2.
    k.run("-n", NS, "set", "env", "ds/agent", "VERSION=v2")
    k.run("-n", NS, "rollout", "status", "ds/agent", "--timeout=90s", timeout=120)
    second = _answers(k)
    assert set(second) == {"ds-node-1", "ds-node-2"}
    assert {v for _, v in second.values()} == {"v2"}
    assert not {n for n, _ in first.values()} & {n for n, _ in second.values()}
    assert _history(k) == ["1", "2"]
    revs = k.run("-n", NS, "get", "controllerrevisions").stdout
    assert "daemonset.apps/agent" in revs

    # kubectl rollout undo patches the old template back; revision 1 comes back as 3.
    out = k.run("-n", NS, "rollout", "undo", "ds/agent").stdout
    assert "rolled back" in out
    k.run("-n", NS, "rollout", "status", "ds/agent", "--timeout=90s", timeout=120)

    def back_to_v1() -> bool:
        try:
            answers = _answers(k)
        except OSError:  # a pod between Running and listening
            return False
        return len(answers) == 2 and {v for _, v in answers.values()} == {"v1"}

    wait_for(back_to_v1, timeout=60, what="v1 again on both nodes")
    assert _history(k) == ["2", "3"]
