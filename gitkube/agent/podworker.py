"""One asyncio task per pod bound to the node: the kubelet's pod worker.

``PodWorker.run`` takes a pod from bound to gone: a pod IP from the node's podCIDR
(``gitkube.agent.ipam``), the volumes (``gitkube.agent.volumes``; a missing source gives a
FailedMount event and a retry), containers a previous agent run left running (adopted,
same PIDs), the init containers in order, then every container at once, each driven by a
``ContainerRunner``. Status changes are batched into ``pods/status`` patches, written only
when they change. When the pod gets a deletionTimestamp the worker first reports it not
Ready (so endpoints drop it), runs preStop, stops the containers within the grace period,
writes the final status and deletes the pod with gracePeriodSeconds=0 and a uid
precondition. ``activeDeadlineSeconds`` ends the pod Failed/DeadlineExceeded. In
simulated mode no process runs: the pod is Running and Ready at once.
Created and fed by ``gitkube.agent.agent.NodeAgent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent import envvars, probes, specs, volumes
from gitkube.agent.containers import ContainerRunner
from gitkube.agent.ipam import PodIPAM
from gitkube.agent.runtime_api import ContainerProcess, ContainerSpec, Runtime
from gitkube.agent.status import ContainerState, PodOutcome, pod_status, same_status
from gitkube.api import meta
from gitkube.client import Client, EventRecorder

__all__ = ["AgentContext", "PodWorker"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
# How long a terminating pod waits for the Endpoints to drop it, and for proxies to follow.
_ENDPOINTS_WAIT = 5.0
_PROXY_SETTLE = 0.2


@dataclass
class AgentContext:
    """What every pod worker of one agent shares."""

    client: Client
    runtime: Runtime
    events: EventRecorder
    node_name: str
    host_ip: str
    data_dir: Path
    ipam: Callable[[], Awaitable[PodIPAM]]  # waits until the node has a podCIDR
    services: Callable[[], list[Obj]]
    crashloop_base: float = 10.0
    crashloop_cap: float = 300.0
    simulated: bool = False
    node_allocatable: dict[str, str] = field(default_factory=dict)


def _restore(states: list[ContainerState], old: list[Obj]) -> None:
    by_name = {s.get("name"): s for s in old}
    for st in states:
        prev = by_name.get(st.name)
        if prev:
            st.restart_count = int(prev.get("restartCount") or 0)
            st.last_state = dict(prev.get("lastState") or {})
            st.container_id = str(prev.get("containerID") or "")
            st.state = dict(prev.get("state") or st.state)


class PodWorker:
    def __init__(self, ctx: AgentContext, pod: Obj) -> None:
        self.ctx = ctx
        self.pod = pod
        m = pod["metadata"]
        self.uid = str(m.get("uid"))
        self.namespace = str(m.get("namespace"))
        self.name = str(m.get("name"))
        self.pod_dir = ctx.data_dir / "pods" / specs.pod_dir_name(pod)
        self.pod_label = specs.pod_label(pod)
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.init_states = [ContainerState(str(c["name"]), str(c.get("image", "")), init=True)
                            for c in spec.get("initContainers") or []]
        self.main_states = [ContainerState(str(c["name"]), str(c.get("image", ""))) for c in spec.get("containers") or []]
        _restore(self.init_states, status.get("initContainerStatuses") or [])
        _restore(self.main_states, status.get("containerStatuses") or [])
        self.runners: dict[str, ContainerRunner] = {}
        self.pod_ip = str(status.get("podIP") or "")
        self.start_time = str(status.get("startTime") or meta.now())
        self.sandbox_ready = False
        self.outcome: PodOutcome | None = None
        if status.get("phase") in ("Succeeded", "Failed"):
            self.outcome = PodOutcome(str(status["phase"]), str(status.get("reason") or ""), str(status.get("message") or ""))
        self.terminating = False
        self.gone = False
        self.volume_paths: dict[str, Path] = {}
        self._dirty = asyncio.Event()
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._last_written: Obj | None = None
        self._lifecycle: asyncio.Task[None] | None = None

    # -- inputs ----------------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        self.pod = pod
        self._wake.set()

    def removed(self) -> None:
        self.gone = True
        self._wake.set()

    def changed(self) -> None:
        self._dirty.set()

    def _deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp"))

    def _grace(self) -> float:
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return float(grace or 0)

    # -- status ----------------------------------------------------------------------

    def desired_status(self) -> Obj:
        return pod_status(self.pod, init=self.init_states, main=self.main_states, pod_ip=self.pod_ip,
                          host_ip=self.ctx.host_ip, start_time=self.start_time, sandbox_ready=self.sandbox_ready,
                          outcome=self.outcome, terminating=self.terminating)

    async def write_status(self) -> None:
        """Patch pods/status if what the agent knows differs from what was written."""
        async with self._write_lock:
            desired = self.desired_status()
            if same_status(desired, self._last_written or self.pod.get("status") or {}):
                return
            try:
                updated = await self.ctx.client.patch("pods", self.name, {"status": desired}, self.namespace,
                                                      subresource="status")
            except errors.NotFound:
                return
            self._last_written = desired
            if (updated.get("metadata") or {}).get("uid") == self.uid:
                self.pod = updated

    async def _status_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.write_status()
            except errors.APIError as exc:
                log.info("status of pod %s/%s not written: %s", self.namespace, self.name, exc)
                await asyncio.sleep(0.5)
                self._dirty.set()
            await asyncio.sleep(0.02)

    # -- container specs -------------------------------------------------------------

    async def _fetch(self, resource: str, names: set[str]) -> dict[str, Obj]:
        out: dict[str, Obj] = {}
        for name in sorted(n for n in names if n):
            with contextlib.suppress(errors.NotFound):
                out[name] = await self.ctx.client.get(resource, name, self.namespace)
        return out

    async def _config_objects(self) -> tuple[dict[str, Obj], dict[str, Obj]]:
        cms, secrets = envvars.referenced_objects(self.pod)
        return await self._fetch("configmaps", cms), await self._fetch("secrets", secrets)

    async def container_spec(self, container: Obj, attempt: int) -> ContainerSpec:
        configmaps, secrets = await self._config_objects()
        return specs.build_spec(self.pod, container, attempt, pod_dir=self.pod_dir, pod_ip=self.pod_ip,
                                host_ip=self.ctx.host_ip, volume_paths=self.volume_paths, configmaps=configmaps,
                                secrets=secrets, services=self.ctx.services(),
                                node_allocatable=self.ctx.node_allocatable)

    async def _setup_volumes(self) -> None:
        configmaps, secrets = await self._config_objects()
        facts = envvars.PodFacts(self.pod, self.pod_ip, self.ctx.host_ip)
        claims = await volumes.resolve_claims(self.ctx.client, self.pod)
        self.volume_paths = await asyncio.to_thread(volumes.materialize, self.pod, self.pod_dir, facts,
                                                    configmaps=configmaps, secrets=secrets, claims=claims)

    # -- lifecycle -------------------------------------------------------------------

    def _containers(self, key: str) -> list[Obj]:
        return list((self.pod.get("spec") or {}).get(key) or [])

    async def _settle_missing(self, state: ContainerState) -> None:
        """A container the status shows as started but no shim supervises any more."""
        if "running" not in state.state:
            return
        probe = ContainerSpec(self.uid, self.namespace, self.name, state.name, state.restart_count, (), (),
                              self.pod_dir, specs.log_path(self.pod_dir, state.name, state.restart_count))
        ended = await self.ctx.runtime.last_exit(probe)
        if ended is None:
            state.terminated(137, "ContainerStatusUnknown", "", "", "The container could not be located when the pod was terminated")
        else:
            state.terminated(ended.exit_code, ended.reason, ended.started_at, ended.finished_at, ended.message, ended.signal)

    async def _run_lifecycle(self, adopted: dict[str, ContainerProcess]) -> None:
        old_ready = {s.get("name"): bool(s.get("ready")) for s in (self.pod.get("status") or {}).get("containerStatuses") or []}
        policy = str((self.pod.get("spec") or {}).get("restartPolicy") or "Always")
        main_adopted = any(c["name"] in adopted for c in self._containers("containers"))
        if self.init_states and not main_adopted:
            for st in self.main_states:
                if st.state.get("waiting", {}).get("reason") == "ContainerCreating":
                    st.waiting("PodInitializing")
        for container, state in zip(self._containers("initContainers"), self.init_states, strict=False):
            if main_adopted or state.exit_code == 0:
                continue
            runner = ContainerRunner(self, container, state, init=True)
            self.runners[state.name] = runner
            if state.name in adopted:
                runner.adopt(adopted[state.name], False)
            else:
                await self._settle_missing(state)
            code = await runner.run()
            if code != 0 and policy == "Never":
                self.changed()
                return
        tasks = []
        for container, state in zip(self._containers("containers"), self.main_states, strict=False):
            runner = ContainerRunner(self, container, state)
            self.runners[state.name] = runner
            if state.name in adopted:
                runner.adopt(adopted[state.name], old_ready.get(state.name, False))
            else:
                await self._settle_missing(state)
            tasks.append(asyncio.create_task(runner.run(), name=f"container-{self.name}-{state.name}"))
        self.changed()
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        self.changed()

    async def _adopt(self) -> dict[str, ContainerProcess]:
        found: dict[str, ContainerProcess] = {}
        for process in await self.ctx.runtime.adopt(self.pod_dir):
            if process.running() and (process.spec.name not in found or process.spec.attempt > found[process.spec.name].spec.attempt):
                found[process.spec.name] = process
        return found

    async def _stop_all(self, grace: float, *, pre_stop: bool) -> None:
        deadline = time.monotonic() + grace

        async def one(runner: ContainerRunner) -> None:
            runner.stopping = True
            process = runner.process
            if process is None or not process.running():
                return
            hook = ((runner.container.get("lifecycle") or {}).get("preStop")) if pre_stop else None
            if hook:
                result = await probes.check(hook, container=runner.container, pod_ip=self.pod_ip, process=process,
                                            timeout=max(deadline - time.monotonic(), 0.1))
                if not result.success:
                    self.ctx.events.record(self.pod, "Warning", "FailedPreStopHook",
                                           f"PreStopHook failed: {result.message}".rstrip(": "))
            await runner.stop(max(deadline - time.monotonic(), 0.0), f"Stopping container {runner.name}")

        await asyncio.gather(*(one(r) for r in list(self.runners.values())))
        if self._lifecycle is not None:
            self._lifecycle.cancel()
            await asyncio.wait([self._lifecycle])  # our own cancellation still propagates

    async def shutdown(self) -> None:
        """Stop the containers gracefully without deleting the pod (agent shutdown)."""
        await self._stop_all(float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0), pre_stop=True)
        with contextlib.suppress(errors.APIError):
            await self.write_status()

    async def _release(self) -> None:
        ipam = await self.ctx.ipam()
        ipam.release(self.uid, None if self.ctx.simulated else self.pod_dir)

    async def _terminate(self) -> None:
        self.terminating = True
        with contextlib.suppress(errors.APIError):
            await self.write_status()  # not Ready first: endpoints drop the pod before SIGTERM
        await self._leave_endpoints(min(self._grace() / 2, _ENDPOINTS_WAIT))
        await self._stop_all(self._grace(), pre_stop=True)
        with contextlib.suppress(errors.APIError):
            await self.write_status()
        await self._release()
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.ctx.client.delete("pods", self.name, self.namespace, grace_period_seconds=0, uid=self.uid)
        await asyncio.to_thread(shutil.rmtree, self.pod_dir, True)

    async def _leave_endpoints(self, limit: float) -> None:
        """Wait (at most ``limit`` seconds) until no Endpoints in the namespace list this pod's
        IP as ready, then a short settle for service proxies to apply it: a rolling update
        then sends no new connection to a container that is about to get SIGTERM."""
        if not self.pod_ip or limit <= 0:
            return
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                listed = await self.ctx.client.list("endpoints", self.namespace)
            except errors.APIError:
                return
            if not any(addr.get("ip") == self.pod_ip
                       for ep in listed.get("items") or [] for subset in ep.get("subsets") or []
                       for addr in subset.get("addresses") or []):
                await asyncio.sleep(min(_PROXY_SETTLE, max(deadline - time.monotonic(), 0.0)))
                return
            await asyncio.sleep(0.05)

    async def _deadline_exceeded(self) -> None:
        self.ctx.events.record(self.pod, "Normal", "DeadlineExceeded", _DEADLINE_MESSAGE)
        await self._stop_all(self._grace(), pre_stop=True)
        self.outcome = PodOutcome("Failed", "DeadlineExceeded", _DEADLINE_MESSAGE)
        self.changed()

    def _deadline_left(self) -> float | None:
        seconds = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if seconds is None or self.outcome is not None:
            return None
        started = meta.parse_time(self.start_time).timestamp()
        return started + float(seconds) - time.time()

    async def run(self) -> None:
        status_task = asyncio.create_task(self._status_loop(), name=f"status-{self.name}")
        try:
            if self.ctx.simulated:
                await self._run_simulated()
            else:
                await self._run_real()
        finally:
            status_task.cancel()

    async def _wait_wake(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _run_real(self) -> None:
        ipam = await self.ctx.ipam()
        finished = self.outcome is not None
        if not finished:
            self.pod_ip = ipam.allocate(self.uid, self.pod_dir)
        adopted = await self._adopt()
        self.changed()
        while True:
            if self.gone:
                await self._stop_all(min(self._grace(), 2.0), pre_stop=False)
                await self._release()
                return
            if self._deleting():
                await self._terminate()
                return
            timeout = 5.0
            if self._lifecycle is None and not finished:
                try:
                    await self._setup_volumes()
                    self.sandbox_ready = True
                    self._lifecycle = asyncio.create_task(self._run_lifecycle(adopted), name=f"pod-{self.name}")
                except errors.RuntimeFailure as exc:
                    self.ctx.events.record(self.pod, "Warning", exc.reason, exc.message)
                    timeout = 2.0
                self.changed()
            elif self._lifecycle is not None and self._lifecycle.done() and not finished:
                finished = True
                if self.desired_status()["phase"] in ("Succeeded", "Failed"):
                    await self._release()
            left = self._deadline_left()
            if left is not None and left <= 0:
                await self._deadline_exceeded()
                finished = True
                await self._release()
            elif left is not None:
                timeout = min(timeout, left)
            await self._wait_wake(timeout)

    async def _run_simulated(self) -> None:
        ipam = await self.ctx.ipam()
        self.pod_ip = ipam.allocate(self.uid)
        now = meta.now()
        for st in self.init_states:
            st.container_id = f"simulated://{self.uid}/{st.name}/0"
            st.terminated(0, "Completed", now, now)
        for st in self.main_states:
            st.running(now, f"simulated://{self.uid}/{st.name}/0")
            st.started = st.ready = True
        self.sandbox_ready = True
        self.changed()
        while not self.gone and not self._deleting():
            await self._wait_wake(30.0)
        await self._release()
        if not self.gone:
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.ctx.client.delete("pods", self.name, self.namespace, grace_period_seconds=0, uid=self.uid)
