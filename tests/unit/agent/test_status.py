"""Pod phase, conditions and container statuses as the kubelet reports them."""

from __future__ import annotations

import pytest

from gitkube.agent.status import ContainerState, PodOutcome, go_duration, pod_phase, pod_status, same_status


def running(name="app", ready=True):
    s = ContainerState(name, "img")
    s.running("2026-01-01T00:00:00Z", f"gitkube://u/{name}/0")
    s.ready = ready
    s.started = True
    return s


def exited(name="app", code=0, init=False):
    s = ContainerState(name, "img", init=init)
    s.terminated(code, "Completed" if code == 0 else "Error", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")
    return s


def backoff(name="app"):
    s = ContainerState(name, "img")
    s.last_state = {"terminated": {"exitCode": 1}}
    s.waiting("CrashLoopBackOff", "back-off 10s")
    return s


@pytest.mark.parametrize(("init", "main", "policy", "phase"), [
    ([], [ContainerState("app")], "Always", "Pending"),
    ([], [running()], "Always", "Running"),
    ([], [running(), exited("b", 0)], "Never", "Running"),
    ([], [exited(code=0)], "Never", "Succeeded"),
    ([], [exited(code=1)], "Never", "Failed"),
    ([], [exited(code=0), exited("b", 1)], "Never", "Failed"),
    ([], [exited(code=1)], "OnFailure", "Running"),
    ([], [exited(code=0)], "OnFailure", "Succeeded"),
    ([], [exited(code=0)], "Always", "Running"),
    ([], [backoff()], "Always", "Running"),
    ([exited("i", 0, init=True)], [running()], "Always", "Running"),
    ([ContainerState("i", init=True)], [ContainerState("app")], "Always", "Pending"),
    ([exited("i", 1, init=True)], [ContainerState("app")], "Never", "Failed"),
    ([exited("i", 1, init=True)], [ContainerState("app")], "Always", "Pending"),
])
def test_phase(init, main, policy, phase):
    assert pod_phase(init, main, policy) == phase


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "200ms"), (10, "10s"), (20, "20s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"), (3600, "1h0m0s"), (1.5, "1.5s"),
])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


POD = {"metadata": {"name": "p"}, "spec": {"restartPolicy": "Always"},
       "status": {"qosClass": "Burstable", "conditions": [
           {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
           {"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}}


def _conds(status):
    return {c["type"]: c for c in status["conditions"]}


def test_ready_pod_status():
    st = pod_status(POD, init=[exited("i", 0, init=True)], main=[running()], pod_ip="127.10.0.2", host_ip="127.0.0.1",
                    start_time="2026-01-01T00:00:00Z", sandbox_ready=True)
    assert st["phase"] == "Running" and st["qosClass"] == "Burstable"
    assert [c["type"] for c in st["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                     "ContainersReady", "PodScheduled"]
    conds = _conds(st)
    assert all(c["status"] == "True" for c in conds.values())
    assert conds["Ready"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"  # unchanged status keeps its time
    assert st["podIP"] == "127.10.0.2" and st["podIPs"] == [{"ip": "127.10.0.2"}]
    assert st["hostIPs"] == [{"ip": "127.0.0.1"}]
    cs = st["containerStatuses"][0]
    assert cs == {"name": "app", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "lastState": {},
                  "ready": True, "restartCount": 0, "image": "img", "imageID": "", "started": True,
                  "containerID": "gitkube://u/app/0"}
    assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_unready_and_terminating_conditions():
    st = pod_status(POD, init=[ContainerState("i", init=True)], main=[running(ready=False), running("b")], pod_ip="",
                    host_ip="127.0.0.1", start_time="t", sandbox_ready=True)
    conds = _conds(st)
    assert conds["Initialized"]["reason"] == "ContainersNotInitialized"
    assert conds["Initialized"]["message"] == "containers with incomplete status: [i]"
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "ContainersNotReady"
    assert conds["ContainersReady"]["message"] == "containers with unready status: [app]"
    assert conds["Ready"]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert "podIP" not in st
    term = _conds(pod_status(POD, init=[], main=[running()], pod_ip="x", host_ip="h", start_time="t",
                             sandbox_ready=True, terminating=True))
    assert term["Ready"]["status"] == "False" and term["ContainersReady"]["status"] == "False"


def test_outcome_and_completed_pod():
    st = pod_status(POD, init=[], main=[running()], pod_ip="x", host_ip="h", start_time="t", sandbox_ready=True,
                    outcome=PodOutcome("Failed", "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"))
    assert (st["phase"], st["reason"]) == ("Failed", "DeadlineExceeded")
    assert _conds(st)["Ready"]["reason"] == "PodCompleted"
    assert _conds(st)["PodReadyToStartContainers"]["status"] == "False"


def test_same_status_ignores_condition_times():
    a = pod_status(POD, init=[], main=[running()], pod_ip="x", host_ip="h", start_time="t", sandbox_ready=True)
    b = {**a, "conditions": [{**c, "lastTransitionTime": "other"} for c in a["conditions"]]}
    assert same_status(a, b)
    assert not same_status(a, {**a, "phase": "Pending"})
