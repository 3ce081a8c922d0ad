"""The HorizontalPodAutoscaler controller (autoscaling/v2), as kube-controller-manager runs it.

Every ``sync_period`` (``--horizontal-pod-autoscaler-sync-period``, 15 s) each HPA is
reconciled (and at once when created or its spec changes):

1. read the target's ``scale`` subresource (Deployment, ReplicaSet, StatefulSet or any kind
   serving one): failing that, AbleToScale=False ``FailedGetScale`` with a Warning event,
   and nothing else is touched;
2. outside ``[minReplicas, maxReplicas]`` the count is brought back in range; a target at 0
   replicas disables scaling (ScalingActive=False ``ScalingDisabled``);
3. otherwise each metric proposes a count (``hpa_replicas``: Resource metrics cpu and memory,
   Utilization against requests or AverageValue, from ``metrics.k8s.io`` PodMetrics of the
   pods of ``status.selector``), the highest wins; then ``hpa_behavior`` stabilizes and limits;
4. a different count is written to ``scale`` with a ``SuccessfulRescale`` event
   ("New size: 3; reason: cpu resource utilization (percentage of request) above target");
5. ``status`` gets currentReplicas, desiredReplicas, currentMetrics, lastScaleTime and the
   AbleToScale / ScalingActive / ScalingLimited conditions with kube's reasons.

ContainerResource, Pods, Object and External metrics are reported as invalid metrics
(no adapter serves them here). Registered in ``gitkube.controllers.manager``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from gitkube import errors
from gitkube.api import meta, scheme, selectors
from gitkube.api.quantity import Quantity, QuantityError, parse_quantity
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers import hpa_behavior as behavior
from gitkube.controllers import hpa_replicas as calc
from gitkube.controllers.base import Controller

__all__ = ["DEFAULT_SYNC_PERIOD", "HorizontalPodAutoscalerController", "set_condition"]

log = logging.getLogger(__name__)

DEFAULT_SYNC_PERIOD = 15.0

Obj = dict[str, Any]
_POD_METRICS = scheme.by_gvk(scheme.METRICS_GROUP, "v1beta1", "PodMetrics")
_HPA = scheme.by_gvk("autoscaling", "v2", "HorizontalPodAutoscaler")


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: str) -> None:
    """Set one condition as kube's ``setConditionInList``: the transition time moves only when
    the status changes."""
    conditions: list[Obj] = status.setdefault("conditions", [])
    current = next((c for c in conditions if c.get("type") == kind), None)
    if current is None:
        current = {"type": kind}
        conditions.append(current)
    if current.get("status") != value:
        current["lastTransitionTime"] = now
    current.update(status=value, reason=reason, message=message)


class _MetricFailure(errors.GitkubeError):
    def __init__(self, message: str, reason: str, condition_message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.condition_message = condition_message


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 sync_period: float = DEFAULT_SYNC_PERIOD,
                 downscale_stabilization: float = behavior.DEFAULT_DOWNSCALE_STABILIZATION,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, informers=informers)
        self.sync_period = sync_period
        self.downscale_stabilization = downscale_stabilization
        self.clock = clock
        self.hpas = self.informer("horizontalpodautoscalers")
        self.pods = self.informer("pods")
        self.history: dict[str, behavior.ScalingHistory] = {}
        self.hpas.add_handler(Handler(on_add=self.enqueue, on_update=self._updated, on_delete=self._deleted))

    def _updated(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec"):
            self.enqueue(new)

    def _deleted(self, obj: Obj) -> None:
        self.history.pop(key_of(obj), None)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._resync()]

    async def _resync(self) -> None:
        await self.hpas.synced.wait()
        while True:
            await asyncio.sleep(self.sync_period)
            for hpa in self.hpas.list():
                self.enqueue(hpa)

    async def sync(self, key: str) -> None:
        hpa = self.hpas.get_key(key)
        if hpa is None:
            self.history.pop(key, None)
            return
        await self.reconcile(copy.deepcopy(hpa))

    # -- the scale subresource ------------------------------------------------------------

    async def _get_scale(self, namespace: str, ref: Obj) -> tuple[scheme.ResourceInfo, Obj]:
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind = str(ref.get("kind") or "")
        info = scheme.by_group_kind(group, kind)
        if info is None or info.subresource("scale") is None:
            raise errors.NotFound(f'no matches for kind "{kind}" in group "{group}"')
        return info, await self.client.get(info, str(ref.get("name") or ""), namespace, subresource="scale")

    # -- metrics -------------------------------------------------------------------------

    async def _resource_metric(self, hpa: Obj, metric: Obj, current: int, selector: str,
                               now: float) -> tuple[int, str, Obj]:
        """(proposed replicas, metric name, status entry) of one Resource metric."""
        source = metric.get("resource") or {}
        resource = str(source.get("name") or "")
        target = source.get("target") or {}
        ns = str(hpa["metadata"]["namespace"])
        assert _POD_METRICS is not None
        pods = self.pods.list(ns, selectors.parse_label_selector(selector))
        try:
            listed = (await self.client.list(_POD_METRICS, ns, label_selector=selector))["items"]
        except errors.GitkubeError as exc:
            raise calc.MetricsError(f"unable to get metrics for resource {resource}: {exc}") from None
        metrics = calc.pod_metrics(listed, resource)
        if target.get("averageValue") is not None:
            try:
                target_milli = parse_quantity(target["averageValue"]).milli_value()
            except (QuantityError, ValueError):
                raise calc.MetricsError(f"invalid averageValue {target['averageValue']!r}") from None
            try:
                replicas, usage = calc.average_value_replicas(current, target_milli, resource, pods, metrics, now)
            except calc.MetricsError as exc:
                raise calc.MetricsError(f"failed to get {resource} usage: {exc}") from None
            status = {"type": "Resource", "resource": {"name": resource, "current": {
                "averageValue": str(Quantity.from_milli(usage))}}}
            return replicas, f"{resource} resource", status
        utilization = target.get("averageUtilization")
        if not isinstance(utilization, int):
            raise calc.MetricsError("invalid resource metric source: neither an average utilization target nor an "
                                    "average value (usage) target was set")
        try:
            replicas, percent, raw = calc.utilization_replicas(current, utilization, resource, pods, metrics, now)
        except calc.MetricsError as exc:
            raise calc.MetricsError(f"failed to get {resource} utilization: {exc}") from None
        status = {"type": "Resource", "resource": {"name": resource, "current": {
            "averageUtilization": percent, "averageValue": str(Quantity.from_milli(raw))}}}
        return replicas, f"{resource} resource utilization (percentage of request)", status

    async def _compute(self, hpa: Obj, scale: Obj, current: int, now: float) -> tuple[int, str, list[Obj]]:
        """kube's ``computeReplicasForMetrics``; _MetricFailure when no metric is usable."""
        specs = (hpa.get("spec") or {}).get("metrics") or []
        status = hpa.setdefault("status", {})
        selector = str((scale.get("status") or {}).get("selector") or "")
        if not selector:
            self.events.record(hpa, "Warning", "SelectorRequired", "selector is required")
            raise _MetricFailure("selector is required", "InvalidSelector", "the HPA target's scale is missing a selector")
        statuses: list[Obj] = [{"type": ""} for _ in specs]
        replicas, name = 0, ""
        invalid: list[_MetricFailure] = []
        for i, metric in enumerate(specs):
            kind = str(metric.get("type") or "")
            try:
                if kind != "Resource":
                    raise _MetricFailure(f"unsupported metric source type {kind!r}", f"FailedGet{kind}Metric",
                                         f"the HPA was unable to compute the replica count: metrics of type {kind} "
                                         "are not served by gitkube")
                try:
                    proposal, proposal_name, statuses[i] = await self._resource_metric(hpa, metric, current,
                                                                                      selector, now)
                except calc.MetricsError as exc:
                    self.events.record(hpa, "Warning", "FailedGetResourceMetric", str(exc))
                    resource = (metric.get("resource") or {}).get("name")
                    message = f"failed to get {resource} resource metric value: {exc}"
                    raise _MetricFailure(message, "FailedGetResourceMetric",
                                         f"the HPA was unable to compute the replica count: {exc}") from None
            except _MetricFailure as failure:
                invalid.append(failure)
                continue
            if replicas == 0 or proposal > replicas:
                replicas, name = proposal, proposal_name
        spec_replicas = current
        if specs and (len(invalid) >= len(specs) or (invalid and replicas < spec_replicas)):
            first = invalid[0]
            set_condition(status, "ScalingActive", "False", first.reason, first.condition_message, meta.now())
            hpa["status"]["currentMetrics"] = statuses
            raise _MetricFailure(f"invalid metrics ({len(invalid)} invalid out of {len(specs)}), first error is: "
                                 f"{first}", first.reason, first.condition_message)
        set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from {name}", meta.now())
        return replicas, name, statuses

    # -- reconcile -------------------------------------------------------------------------

    async def _write_status(self, hpa: Obj, before: Obj) -> None:
        if hpa.get("status") == before:
            return
        assert _HPA is not None
        try:
            await self.client.update_status(_HPA, hpa)
        except errors.Conflict:
            self.queue.add(key_of(hpa))

    async def reconcile(self, hpa: Obj) -> None:
        """One pass of kube's ``reconcileAutoscaler`` over a copy of ``hpa``."""
        now = self.clock()
        stamp = meta.now()
        key = key_of(hpa)
        spec = hpa.get("spec") or {}
        before = copy.deepcopy(hpa.get("status") or {})
        status = hpa.setdefault("status", {})
        ref = spec.get("scaleTargetRef") or {}
        ns = str(hpa["metadata"].get("namespace"))
        reference = f"{ref.get('kind')}/{ns}/{ref.get('name')}"
        try:
            info, scale = await self._get_scale(ns, ref)
        except errors.GitkubeError as exc:
            set_condition(status, "AbleToScale", "False", "FailedGetScale",
                          f"the HPA controller was unable to get the target's current scale: {exc}", stamp)
            self.events.record(hpa, "Warning", "FailedGetScale", str(exc))
            await self._write_status(hpa, before)
            return
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", stamp)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        min_replicas = int(spec.get("minReplicas") or 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        metrics = status.get("currentMetrics")
        reason, desired, rescale = "", 0, True
        if current == 0 and min_replicas != 0:
            rescale = False
            set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero", stamp)
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            try:
                proposal, metric_name, metrics = await self._compute(hpa, scale, current, now)
            except _MetricFailure as failure:
                status["currentReplicas"] = current
                status.setdefault("desiredReplicas", 0)
                await self._write_status(hpa, before)
                self.events.record(hpa, "Warning", "FailedComputeMetricsReplicas",
                                   f"failed to compute desired number of replicas based on listed metrics for "
                                   f"{reference}: {failure}")
                return
            desired = max(desired, proposal)
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
            history = self.history.setdefault(key, behavior.ScalingHistory())
            desired, conditions = behavior.normalize(history, spec, current, desired, now,
                                                     self.downscale_stabilization)
            for kind, value, cond_reason, message in conditions:
                set_condition(status, kind, value, cond_reason, message, stamp)
            rescale = desired != current
        if rescale:
            scale.setdefault("spec", {})["replicas"] = desired
            try:
                await self.client.update(info, scale, subresource="scale")
            except errors.GitkubeError as exc:
                self.events.record(hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; "
                                   f"error: {exc}")
                set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {exc}", stamp)
                status["currentReplicas"] = current
                if metrics is not None:
                    status["currentMetrics"] = metrics
                await self._write_status(hpa, before)
                return
            set_condition(status, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}", stamp)
            self.events.record(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            self.history.setdefault(key, behavior.ScalingHistory()).record_scale(spec.get("behavior"), current,
                                                                                desired, now)
            log.info("hpa %s: %s -> %s replicas (%s)", key, current, desired, reason)
            status["lastScaleTime"] = stamp
        else:
            desired = current
        status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if metrics is not None:
            status["currentMetrics"] = metrics
        await self._write_status(hpa, before)

