"""One container of a pod, over its attempts: start, probe, wait, restart with back-off.

``ContainerRunner`` drives ``ContainerProcess`` objects of the runtime for one container
name: it starts an attempt (the spec comes from the pod worker), runs the startup,
readiness and liveness probes (``gitkube.agent.probes``), waits for the exit, records
``state``/``lastState``/``restartCount`` in its ``ContainerState`` and decides, by the
pod's restartPolicy, whether to start again, after the kubelet's crash-loop back-off
(immediately the first time, then base, 2*base ... up to cap; reset after 10 minutes of
good running). Liveness and startup failures kill the attempt ("Container x failed
liveness probe, will be restarted"). Events are the kubelet's: Created, Started, Killing,
BackOff, Failed, Unhealthy. Used by ``gitkube.agent.podworker``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from gitkube import errors
from gitkube.agent import probes
from gitkube.agent.runtime_api import ContainerProcess, ContainerSpec, ExitStatus
from gitkube.agent.status import ContainerState, go_duration
from gitkube.api import meta

if TYPE_CHECKING:
    from gitkube.agent.podworker import PodWorker

__all__ = ["GOOD_RUN_RESET", "ContainerRunner", "should_restart"]

Obj = dict[str, Any]
GOOD_RUN_RESET = 600.0  # seconds of running after which the back-off starts over


def should_restart(policy: str, exit_code: int, *, init: bool) -> bool:
    if init:
        return exit_code != 0 and policy != "Never"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


class ContainerRunner:
    def __init__(self, worker: PodWorker, container: Obj, state: ContainerState, *, init: bool = False) -> None:
        self.worker = worker
        self.container = container
        self.name = str(container["name"])
        self.state = state
        self.init = init
        self.process: ContainerProcess | None = None
        self.backoff = 0.0
        self.stopping = False
        self.kill_reason = ""
        self._kill = asyncio.Event()
        self.initial_ready: bool | None = None

    # -- helpers ---------------------------------------------------------------------

    def _event(self, kind: str, reason: str, message: str) -> None:
        self.worker.ctx.events.record(self.worker.pod, kind, reason, message)

    def adopt(self, process: ContainerProcess, ready: bool) -> None:
        """Take over an attempt a previous agent run started."""
        self.process = process
        self.state.restart_count = process.spec.attempt
        self.state.running(process.started_at, process.spec.container_id)
        self.initial_ready = ready

    def _record_exit(self, status: ExitStatus, started_at: str) -> None:
        reason = status.reason or ("Completed" if status.exit_code == 0 else "Error")
        self.state.terminated(status.exit_code, reason, status.started_at or started_at, status.finished_at,
                              status.message, status.signal)
        self.worker.changed()

    async def _start(self) -> ContainerProcess | None:
        """Start an attempt; on failure record it and return None."""
        try:
            spec: ContainerSpec = await self.worker.container_spec(self.container, self.state.restart_count)
        except errors.RuntimeFailure as exc:
            self.state.waiting(exc.reason, exc.message)
            self._event("Warning", "Failed", f"Error: {exc.message}")
            self.worker.changed()
            return None
        try:
            process = await self.worker.ctx.runtime.start(spec)
        except errors.RuntimeFailure as exc:
            now = meta.now()
            self.state.container_id = spec.container_id
            self.state.terminated(128, exc.reason, now, now, exc.message)
            self._event("Warning", "Failed", f"Error: {exc.message}")
            self.worker.changed()
            return None
        self._event("Normal", "Created", f"Created container {self.name}")
        if spec.sandbox and not getattr(process, "sandboxed", True):
            self._event("Warning", "NoSandbox", f"bubblewrap is not usable on this node: container {self.name} "
                                                "runs as a plain process")
        runtime = self.worker.ctx.runtime
        if (spec.limits.cpu_millis or spec.limits.memory_bytes) and not getattr(runtime, "limits_enforced", True):
            self._event("Warning", "LimitsNotEnforced", f"resource limits of container {self.name} are not enforced: "
                                                        f"{getattr(runtime, 'limits_message', '')}".rstrip(": "))
        self._event("Normal", "Started", f"Started container {self.name}")
        self.state.running(process.started_at or meta.now(), spec.container_id)
        self.worker.changed()
        return process

    # -- probes ----------------------------------------------------------------------

    def _probe_tasks(self, process: ContainerProcess, began: float) -> list[asyncio.Task[None]]:
        c = self.container
        tasks: list[asyncio.Task[None]] = []

        async def attempt(probe: Obj, timeout: float) -> probes.ProbeResult:
            return await probes.check(probe, container=c, pod_ip=self.worker.pod_ip, process=process, timeout=timeout)

        def worker_for(kind: str) -> probes.ProbeWorker | None:
            key = {probes.LIVENESS: "livenessProbe", probes.READINESS: "readinessProbe", probes.STARTUP: "startupProbe"}[kind]
            probe = c.get(key)
            if not probe or self.init:
                return None

            def on_failure(result: probes.ProbeResult) -> None:
                self._event("Warning", "Unhealthy", f"{kind} probe failed: {result.message}".rstrip())

            def on_change(ok: bool) -> None:
                if kind == probes.READINESS:
                    self.state.ready = ok and "running" in self.state.state
                    self.worker.changed()
                elif kind == probes.STARTUP and ok:
                    self.state.started = True
                    self.worker.changed()
                    start_after_startup()
                elif not ok:
                    self.kill_reason = f"Container {self.name} failed {kind.lower()} probe, will be restarted"
                    self._kill.set()

            return probes.ProbeWorker(kind, probe, lambda t: attempt(probe, t), started_at=began,
                                      on_change=on_change, on_failure=on_failure)

        def start_after_startup() -> None:
            readiness = worker_for(probes.READINESS)
            if readiness is not None:
                if self.initial_ready:
                    readiness.result = True
                    self.state.ready = True
                tasks.append(asyncio.create_task(readiness.run()))
            else:
                self.state.ready = True
            liveness = worker_for(probes.LIVENESS)
            if liveness is not None:
                tasks.append(asyncio.create_task(liveness.run()))
            self.initial_ready = None
            self.worker.changed()

        startup = worker_for(probes.STARTUP)
        if startup is not None and not self.initial_ready:
            self.state.started = False
            tasks.append(asyncio.create_task(startup.run()))
        else:
            self.state.started = True
            start_after_startup()
        return tasks

    def _grace(self) -> float:
        spec = self.worker.pod.get("spec") or {}
        return float(spec.get("terminationGracePeriodSeconds", 30) or 0)

    async def supervise(self, process: ContainerProcess) -> ExitStatus:
        """Wait for the attempt to end, probing it; kill it when liveness/startup fails."""
        self.process = process
        self._kill.clear()
        began = time.monotonic()
        tasks = [] if self.init else self._probe_tasks(process, began)
        waiter = asyncio.ensure_future(process.wait())
        killer = asyncio.ensure_future(self._kill.wait())
        try:
            await asyncio.wait({waiter, killer}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                status = waiter.result()
            else:
                self._event("Normal", "Killing", self.kill_reason)
                self.state.ready = False
                self.worker.changed()
                status = await process.stop(self._grace())
        finally:
            killer.cancel()
            if not waiter.done():
                waiter.cancel()
            for t in tasks:
                t.cancel()
        self.process = None
        if time.monotonic() - began >= GOOD_RUN_RESET:
            self.backoff = 0.0
        return status

    # -- the loop --------------------------------------------------------------------

    async def _back_off(self) -> None:
        if self.backoff <= 0:
            self.backoff = self.worker.ctx.crashloop_base
            return
        delay = self.backoff
        pod = self.worker.pod_label
        self.state.last_state = self.state.state if "terminated" in self.state.state else self.state.last_state
        self.state.waiting("CrashLoopBackOff",
                           f"back-off {go_duration(delay)} restarting failed container={self.name} pod={pod}")
        self._event("Warning", "BackOff", f"Back-off restarting failed container {self.name} in pod {pod}")
        self.worker.changed()
        await asyncio.sleep(delay)
        self.backoff = min(delay * 2, self.worker.ctx.crashloop_cap)

    async def run(self) -> int:
        """Run attempts until one ends for good; returns its exit code."""
        policy = str((self.worker.pod.get("spec") or {}).get("restartPolicy") or "Always")
        first = True
        if self.process is None and "terminated" in self.state.state:  # resumed after an agent restart
            code = self.state.exit_code or 0
            if not should_restart(policy, code, init=self.init):
                return code
            first = False
        while True:
            process = self.process
            if process is None:
                if not first:
                    await self._back_off()
                    if self.stopping:
                        return self.state.exit_code or 0
                    if "terminated" in self.state.state or self.state.last_state.get("terminated"):
                        if "terminated" in self.state.state:
                            self.state.last_state = self.state.state
                        self.state.restart_count += 1
                process = await self._start()
            first = False
            if process is None:
                if "waiting" in self.state.state:  # a config error: retry without counting a restart
                    await asyncio.sleep(max(self.worker.ctx.crashloop_base, 0.2))
                    first = True
                    continue
                code = self.state.exit_code or 128
            else:
                started = self.state.state.get("running", {}).get("startedAt", "")
                status = await self.supervise(process)
                self._record_exit(status, started)
                code = status.exit_code
            if self.stopping or not should_restart(policy, code, init=self.init):
                return code

    async def stop(self, grace: float, reason_event: str = "") -> None:
        """Stop the running attempt (pod deletion, agent shutdown); no restart follows."""
        self.stopping = True
        process = self.process
        if process is None or not process.running():
            return
        if reason_event:
            self._event("Normal", "Killing", reason_event)
        status = await process.stop(grace)
        started = self.state.state.get("running", {}).get("startedAt", "")
        self._record_exit(status, started)
        self.process = None
