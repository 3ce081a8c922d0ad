"""Restart policies, crash-loop back-off, probes, bad input and deletion, end to end through
the real API server with the FakeRuntime."""

from __future__ import annotations

import asyncio
import re
import time

from gitkube import errors
from gitkube.testing.runtime import FakeBehaviour

from .agentkit import cluster, condition, container, cstatus, events_of, is_ready, pod, wait_gone, wait_pod


async def test_crash_loop_back_off_grows_and_is_reported(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("app", FakeBehaviour(exit_code=1, after=0.02))
        await kit.client.create("pods", pod("crash", [container()]))
        p = await wait_pod(kit.client, "crash", lambda p: cstatus(p).get("restartCount", 0) >= 3
                           and "waiting" in cstatus(p)["state"], timeout=15)
        cs = cstatus(p)
        waiting = cs["state"]["waiting"]
        assert waiting["reason"] == "CrashLoopBackOff"
        uid = p["metadata"]["uid"]
        assert re.fullmatch(rf"back-off (200|400|800)ms restarting failed container=app pod=crash_default\({uid}\)",
                            waiting["message"])
        term = cs["lastState"]["terminated"]
        assert term["exitCode"] == 1 and term["reason"] == "Error"
        assert term["startedAt"] and term["finishedAt"]
        assert p["status"]["phase"] == "Running"
        assert condition(p, "Ready") == "False"
        # the delays between attempts grow: 0, 0.2, 0.4, 0.8 (cap)
        starts = [s.attempt for s in kit.runtime.started]
        assert starts[:4] == [0, 1, 2, 3]
        await kit.agent.events.flush()
        evs = await events_of(kit.client, "crash")
        assert ("BackOff", f"Back-off restarting failed container app in pod crash_default({uid})") in evs


async def test_crash_loop_delays_double(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("app", FakeBehaviour(exit_code=2, after=0.0))
        stamps: list[float] = []
        real_start = kit.runtime.start

        async def start(spec):
            stamps.append(time.monotonic())
            return await real_start(spec)

        kit.runtime.start = start  # type: ignore[method-assign]
        await kit.client.create("pods", pod("dbl", [container()]))
        deadline = time.monotonic() + 10
        while len(stamps) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        assert gaps[0] < 0.15  # the first restart is immediate
        assert 0.15 < gaps[1] < 0.45  # base
        assert 0.35 < gaps[2] < 0.7  # 2 * base
        assert 0.7 < gaps[3] < 1.2  # capped at 0.8


async def test_restart_policy_never_and_on_failure(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("ok", FakeBehaviour(exit_code=0, after=0.05))
        kit.runtime.behave("bad", FakeBehaviour(exit_code=4, after=0.05))
        await kit.client.create("pods", pod("done", [container("ok")], restartPolicy="Never"))
        await kit.client.create("pods", pod("fail", [container("bad")], restartPolicy="Never"))
        await kit.client.create("pods", pod("retry", [container("bad")], restartPolicy="OnFailure"))
        await kit.client.create("pods", pod("once", [container("ok")], restartPolicy="OnFailure"))
        done = await wait_pod(kit.client, "done", lambda p: p["status"]["phase"] == "Succeeded")
        assert cstatus(done, "ok")["state"]["terminated"]["reason"] == "Completed"
        assert condition(done, "Ready") == "False"
        fail = await wait_pod(kit.client, "fail", lambda p: p["status"]["phase"] == "Failed")
        assert cstatus(fail, "bad")["state"]["terminated"]["exitCode"] == 4
        await wait_pod(kit.client, "once", lambda p: p["status"]["phase"] == "Succeeded")
        retry = await wait_pod(kit.client, "retry", lambda p: cstatus(p, "bad").get("restartCount", 0) >= 2)
        assert retry["status"]["phase"] == "Running"
        await asyncio.sleep(0.3)
        assert sum(1 for s in kit.runtime.started if s.pod_name == "done") == 1


async def test_liveness_failure_restarts_the_container(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("app", FakeBehaviour(exec_results={"healthy": (1, b"not healthy")}))
        probe = {"exec": {"command": ["healthy"]}, "periodSeconds": 1, "failureThreshold": 1}
        await kit.client.create("pods", pod("live", [container(livenessProbe=probe)]))
        p = await wait_pod(kit.client, "live", lambda p: cstatus(p).get("restartCount", 0) >= 1, timeout=10)
        assert cstatus(p)["lastState"]["terminated"]["exitCode"] == 143
        assert kit.runtime.started[0].name == "app"
        first = next(iter(kit.runtime.containers.values()))
        assert first.stop_calls and first.stop_calls[0] == 2.0  # terminationGracePeriodSeconds
        await kit.agent.events.flush()
        evs = await events_of(kit.client, "live")
        assert ("Unhealthy", "Liveness probe failed: not healthy") in evs
        assert ("Killing", "Container app failed liveness probe, will be restarted") in evs


async def test_readiness_probe_toggles_ready(tmp_path):
    state = {"ok": True}

    def handler(argv):
        return (0, b"") if state["ok"] else (1, b"nope")

    async with cluster(tmp_path) as kit:
        kit.runtime.behave("app", FakeBehaviour(exec_handler=handler))
        probe = {"exec": {"command": ["ready"]}, "periodSeconds": 1, "failureThreshold": 1}
        await kit.client.create("pods", pod("rdy", [container(readinessProbe=probe)]))
        await wait_pod(kit.client, "rdy", is_ready)
        state["ok"] = False
        p = await wait_pod(kit.client, "rdy", lambda p: condition(p, "Ready") == "False")
        assert cstatus(p)["ready"] is False and "running" in cstatus(p)["state"]
        assert [c for c in p["status"]["conditions"] if c["type"] == "Ready"][0]["reason"] == "ContainersNotReady"
        state["ok"] = True
        await wait_pod(kit.client, "rdy", is_ready)
        assert len(kit.runtime.started) == 1  # readiness never restarts
        await kit.agent.events.flush()
        assert ("Unhealthy", "Readiness probe failed: nope") in await events_of(kit.client, "rdy")


async def test_deletion_marks_not_ready_runs_prestop_stops_and_removes(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("app", FakeBehaviour())
        lifecycle = {"preStop": {"exec": {"command": ["drain"]}}}
        await kit.client.create("pods", pod("gone", [container(lifecycle=lifecycle)], terminationGracePeriodSeconds=5))
        p = await wait_pod(kit.client, "gone", is_ready)
        [running] = kit.runtime.running_for(p["metadata"]["uid"])
        seen: dict[str, object] = {}
        real_stop = running.stop

        async def stop(grace: float):
            try:
                seen["ready_at_stop"] = condition(await kit.client.get("pods", "gone", "default"), "Ready")
            except errors.NotFound:  # the API server completes the deletion on the status write
                seen["ready_at_stop"] = "False"
            seen["exec_before_stop"] = list(running.exec_calls)
            seen["grace"] = grace
            return await real_stop(grace)

        running.stop = stop  # type: ignore[method-assign]
        await kit.client.delete("pods", "gone", "default")
        await wait_gone(kit.client, "gone")
        assert seen["ready_at_stop"] == "False"
        assert seen["exec_before_stop"] == [["drain"]]
        assert 4.0 < float(seen["grace"]) <= 5.0  # type: ignore[arg-type]
        assert not running.running()
        # the pod's directory goes right after the final status write that completes the deletion
        sandbox = kit.data_dir / "pods" / f"default_gone_{p['metadata']['uid']}"
        deadline = time.monotonic() + 5
        while sandbox.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not sandbox.exists()
        await kit.agent.events.flush()
        assert ("Killing", "Stopping container app") in await events_of(kit.client, "gone")


async def test_command_not_found_is_container_cannot_run(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.cannot_run["nosuchcmd"] = 'exec: "nosuchcmd": executable file not found in $PATH'
        await kit.client.create("pods", pod("nocmd", [container(command=["nosuchcmd"])]))
        p = await wait_pod(kit.client, "nocmd", lambda p: cstatus(p).get("restartCount", 0) >= 1)
        cs = cstatus(p)
        term = cs.get("lastState", {}).get("terminated") or cs["state"]["terminated"]
        assert term["reason"] == "ContainerCannotRun"
        assert "executable file not found" in term["message"]
        await kit.agent.events.flush()
        evs = await events_of(kit.client, "nocmd")
        assert ("Failed", 'Error: exec: "nosuchcmd": executable file not found in $PATH') in evs


async def test_missing_configmap_is_create_container_config_error(tmp_path):
    async with cluster(tmp_path) as kit:
        env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "x"}}}]
        await kit.client.create("pods", pod("cfgerr", [container(env=env)]))
        p = await wait_pod(kit.client, "cfgerr", lambda p: "waiting" in cstatus(p).get("state", {})
                           and cstatus(p)["state"]["waiting"]["reason"] == "CreateContainerConfigError")
        assert cstatus(p)["state"]["waiting"]["message"] == 'configmap "cfg" not found'
        assert p["status"]["phase"] == "Pending"
        await kit.client.create("configmaps", {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"x": "1"}})
        await wait_pod(kit.client, "cfgerr", is_ready)
        assert dict(kit.runtime.started[-1].env)["X"] == "1"
        await kit.agent.events.flush()
        assert ("Failed", 'Error: configmap "cfg" not found') in await events_of(kit.client, "cfgerr")


async def test_missing_configmap_volume_is_failed_mount(tmp_path):
    async with cluster(tmp_path) as kit:
        vols = [{"name": "cfg", "configMap": {"name": "nope"}}]
        await kit.client.create("pods", pod("mnt", [container(volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}])],
                                            volumes=vols))
        await asyncio.sleep(0.5)
        await kit.agent.events.flush()
        evs = await events_of(kit.client, "mnt")
        assert ("FailedMount", 'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found') in evs
        p = await kit.client.get("pods", "mnt", "default")
        assert p["status"]["phase"] == "Pending"
        assert kit.runtime.started == []


async def test_active_deadline_fails_the_pod(tmp_path):
    async with cluster(tmp_path) as kit:
        await kit.client.create("pods", pod("dl", [container()], activeDeadlineSeconds=1))
        p = await wait_pod(kit.client, "dl", lambda p: p["status"]["phase"] == "Failed", timeout=10)
        assert p["status"]["reason"] == "DeadlineExceeded"
        assert p["status"]["message"] == "Pod was active on the node longer than the specified deadline"
        assert not kit.runtime.running_for(p["metadata"]["uid"])
