"""Leader election over a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does.

Several ``gitkube up`` daemons on one etcd all serve the API; only the one holding the Lease
(``kube-system/gitkube-leader`` by default) runs the control loops. :class:`LeaderElector`
reaches the Lease only through the API, so the compare-and-set is the API's: an update
carries the ``resourceVersion`` it read and fails with 409 if anyone wrote in between (on
etcd that is a transaction comparing the key's mod revision). It therefore works on any
store, as kube-controller-manager's election does.

Timing (client-go's rules, scaled down so a takeover takes seconds):

- a candidate takes the Lease only when its holder has not changed the record for
  ``leaseDurationSeconds``, measured on the candidate's own monotonic clock from the moment
  it first saw that version of the record (no trust in another machine's wall clock);
- the leader renews every ``renew_interval`` and retries every ``retry_period``; when no
  renewal has succeeded for ``renew_deadline`` (< lease duration) since the last good one
  *started*, it cancels its loops at once, before any candidate may take over;
- a leader that sees another holder in the record stops at once; on cancellation the leader
  stops its loops first, then releases the Lease (empty holder) so a candidate takes it now.

``run(lead)`` runs ``lead()`` as a task for each term and cancels it when the term ends, then
competes again. Becoming leader and losing it are logged and recorded as Events on the Lease
(reason ``LeaderElection``). Wired by ``gitkube.leader`` (built by ``gitkube.app``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from gitkube import errors
from gitkube.client.events import EventRecorder
from gitkube.client.rest import Client

__all__ = ["ElectionConfig", "LeaderElector", "micro_time"]

log = logging.getLogger(__name__)

Outcome = Literal["held", "other", "error"]
_FAILURES = (errors.GitkubeError, OSError, aiohttp.ClientError, TimeoutError)


def micro_time() -> str:
    """A ``MicroTime`` (RFC 3339 with microseconds, UTC), what Lease times are written as."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ElectionConfig:
    """Who competes, for which Lease, and how fast (seconds)."""

    identity: str
    name: str = "gitkube-leader"
    namespace: str = "kube-system"
    lease_duration: float = 4.0
    renew_deadline: float = 3.0
    renew_interval: float = 1.0
    retry_period: float = 0.25
    release_on_cancel: bool = True

    def validate(self) -> None:
        """client-go's checks: duration > deadline > retry period > 0, and a holder name."""
        if not self.identity:
            raise errors.ConfigError("leader election needs an identity")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise errors.ConfigError("leader election: need 0 < retry period < renew deadline < lease duration, got "
                                     f"{self.retry_period} < {self.renew_deadline} < {self.lease_duration}")
        if not 0 < self.renew_interval < self.renew_deadline:
            raise errors.ConfigError(f"leader election: the renew interval {self.renew_interval} must be below "
                                     f"the renew deadline {self.renew_deadline}")

    @property
    def lease_seconds(self) -> int:
        """``spec.leaseDurationSeconds`` (an integer in the API)."""
        return max(1, math.ceil(self.lease_duration))


class LeaderElector:
    """Competes for one Lease; runs ``lead()`` while it holds it (see the module docstring)."""

    def __init__(self, client: Client, config: ElectionConfig, *, clock: Callable[[], float] = time.monotonic,
                 events: EventRecorder | None = None,
                 on_change: Callable[[bool], None] | None = None) -> None:
        config.validate()
        self.client = client
        self.config = config
        self._clock = clock
        self.events = events if events is not None else EventRecorder(client, "gitkube-leader-election",
                                                                     config.identity)
        self._on_change = on_change
        self._leading = False
        self._holder = ""
        self._observed_rv = ""
        self._observed_at = 0.0
        self._renewed_at = 0.0  # when the last successful acquire/renew was *sent* (monotonic)
        self._expires_at = 0.0  # when another holder's lease runs out, as this elector sees it
        self._lease: dict[str, Any] | None = None
        self.terms = 0  # how many times this elector became leader

    # -- read side ------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder this elector last saw in the Lease ("" before the first read or after a release)."""
        return self._holder

    def status(self) -> dict[str, Any]:
        c = self.config
        return {"identity": c.identity, "leader": self._holder, "isLeader": self._leading,
                "lease": f"{c.namespace}/{c.name}", "leaseDurationSeconds": c.lease_seconds}

    # -- one attempt (client-go's tryAcquireOrRenew) ---------------------------------------------

    def _observe(self, lease: dict[str, Any]) -> None:
        rv = str((lease.get("metadata") or {}).get("resourceVersion", ""))
        if rv != self._observed_rv:
            self._observed_rv, self._observed_at = rv, self._clock()
        self._holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        self._lease = lease

    def _spec(self, old: dict[str, Any]) -> dict[str, Any]:
        now = micro_time()
        mine = old.get("holderIdentity") == self.config.identity
        return {**old, "holderIdentity": self.config.identity, "leaseDurationSeconds": self.config.lease_seconds,
                "acquireTime": old.get("acquireTime") if mine and old.get("acquireTime") else now,
                "renewTime": now,
                "leaseTransitions": int(old.get("leaseTransitions") or 0) + (0 if mine or not old else 1)}

    async def try_acquire_or_renew(self) -> Outcome:
        """One read and, if the Lease is free, expired or ours, one compare-and-set write."""
        c = self.config
        try:
            lease = await self.client.get("leases", c.name, c.namespace)
        except errors.NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": c.name, "namespace": c.namespace}, "spec": self._spec({})}
            try:
                created = await self.client.create("leases", body, c.namespace)
            except (errors.AlreadyExists, errors.Conflict):
                return "other"
            self._observe(created)
            return "held"
        self._observe(lease)
        spec = dict(lease.get("spec") or {})
        holder = str(spec.get("holderIdentity") or "")
        duration = float(spec.get("leaseDurationSeconds") or c.lease_seconds)
        self._expires_at = self._observed_at + duration
        if holder and holder != c.identity and self._clock() < self._expires_at:
            return "other"
        if holder and holder != c.identity:
            log.info("leader election: the lease of %s expired (no renewal seen for %.1fs)", holder, duration)
        lease["spec"] = self._spec(spec)
        try:
            written = await self.client.update("leases", lease)
        except errors.Conflict:  # someone wrote in between: re-read next time
            return "other"
        self._observe(written)
        return "held"

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Until cancelled: acquire, run ``lead()`` while renewing, cancel it when the term ends."""
        while True:
            await self._acquire()
            await self._lead(lead)

    async def _acquire(self) -> None:
        while True:
            started = self._clock()
            try:
                outcome = await asyncio.wait_for(self.try_acquire_or_renew(), self.config.renew_deadline)
            except _FAILURES as exc:
                log.debug("leader election: cannot reach the lease: %s", exc)
                outcome = "error"
            if outcome == "held":
                self._renewed_at = started
                return
            # poll every retry period, but try again right when the holder's lease runs out
            wait = self.config.retry_period
            if outcome == "other" and self._holder:
                wait = min(wait, max(0.0, self._expires_at - self._clock()) + 0.001)
            await asyncio.sleep(wait)

    async def _lead(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._set_leading(True)
        task = asyncio.create_task(lead(), name="leader-term")
        try:
            reason = await self._renew_until_lost(task)
        except asyncio.CancelledError:
            await self._stop(task)
            if self.config.release_on_cancel:
                with contextlib.suppress(*_FAILURES):
                    await asyncio.wait_for(self.release(), self.config.renew_deadline)
            self._set_leading(False, "the daemon is stopping")
            with contextlib.suppress(*_FAILURES):  # let the Event leave before the daemon's clients close
                await asyncio.wait_for(self.events.flush(), 1.0)
            raise
        await self._stop(task)
        self._set_leading(False, reason)
        if task.done() and not task.cancelled():
            # the loops ended by themselves (a crash): give the Lease to another daemon, and wait
            # a lease duration so that one has its chance before this one competes again
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(self.release(), self.config.renew_deadline)
            await asyncio.sleep(self.config.lease_duration)

    async def _renew_until_lost(self, task: asyncio.Task[None]) -> str:
        """Renew until the term ends; the reason it ended."""
        c = self.config
        delay = c.renew_interval
        while True:
            deadline = self._renewed_at + c.renew_deadline
            done, _ = await asyncio.wait({task}, timeout=max(0.0, min(delay, deadline - self._clock())))
            if done:
                exc = task.exception()
                if exc is not None:
                    log.error("leader election: the leader's loops failed: %s", exc, exc_info=exc)
                return "its control loops stopped"
            if self._clock() >= deadline:
                return f"no renewal succeeded within {c.renew_deadline:g}s"
            started = self._clock()
            try:
                outcome = await asyncio.wait_for(self.try_acquire_or_renew(), max(0.01, deadline - started))
            except _FAILURES as exc:
                log.warning("leader election: renewing the lease failed: %s", exc)
                outcome = "error"
            if outcome == "held":
                self._renewed_at, delay = started, c.renew_interval
            elif outcome == "other":
                return f"the lease is held by {self._holder or 'another daemon'}"
            else:
                delay = c.retry_period

    @staticmethod
    async def _stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def release(self) -> None:
        """Give the Lease up (empty holder, 1 s duration) if this elector still holds it."""
        c = self.config
        lease = await self.client.get("leases", c.name, c.namespace)
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != c.identity:
            return
        now = micro_time()
        lease["spec"] = {**spec, "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": now,
                         "acquireTime": now}
        self._observe(await self.client.update("leases", lease))
        log.info("leader election: %s released the lease", c.identity)

    def _set_leading(self, leading: bool, reason: str = "") -> None:
        if leading == self._leading:
            return
        self._leading = leading
        c = self.config
        if leading:
            self.terms += 1
            self._holder = c.identity
            log.info("leader election: %s became leader (lease %s/%s)", c.identity, c.namespace, c.name)
            message = f"{c.identity} became leader"
        else:
            log.warning("leader election: %s stopped leading: %s", c.identity, reason)
            message = f"{c.identity} stopped leading: {reason}"
        if self._lease is not None:
            self.events.record(self._lease, "Normal", "LeaderElection", message)
        if self._on_change is not None:
            self._on_change(leading)
