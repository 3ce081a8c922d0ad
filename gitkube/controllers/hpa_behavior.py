"""HPA normalization: stabilization windows, scaling policies and min/max limits.

A port of the normalization half of kube-controller-manager's ``podautoscaler/horizontal.go``.
Each HPA has a :class:`ScalingHistory` (its recent recommendations and scale events, kept in
memory by the controller as kube does). :func:`normalize` turns a metric-proposed replica
count into the count to set, with the AbleToScale/ScalingLimited conditions kube reports:

- without ``spec.behavior``: the highest recommendation of the downscale stabilization window
  (``--horizontal-pod-autoscaler-downscale-stabilization``, 5 minutes), then at most
  ``max(2 x current, 4)`` and within ``[minReplicas, maxReplicas]``;
- with ``spec.behavior``: the scale-up window keeps the lowest and the scale-down window the
  highest recent recommendation; the policies (``Pods``/``Percent`` per ``periodSeconds``,
  counted from the replicas at the start of each period, chosen by ``selectPolicy``
  Max/Min/Disabled) cap the change.

Pure: times are passed in as seconds. Used by ``gitkube.controllers.hpa``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_DOWNSCALE_STABILIZATION",
    "Condition",
    "Rules",
    "ScaleEvent",
    "ScalingHistory",
    "convert_with_behavior_rate",
    "convert_with_rules",
    "normalize",
    "rules_of",
    "scale_down_limit",
    "scale_up_limit",
]

DEFAULT_DOWNSCALE_STABILIZATION = 300.0
_INT32_MAX = 2**31 - 1
_INT32_MIN = -(2**31)

Condition = tuple[str, str, str, str]  # type, status, reason, message
Obj = dict[str, Any]


@dataclass(frozen=True)
class Rules:
    """One direction of ``spec.behavior``, with kube's defaults filled in."""

    window: float
    select: str  # Max, Min, Disabled
    policies: tuple[tuple[str, int, int], ...]  # (type, value, periodSeconds)


def rules_of(behavior: Any, direction: str, default_down_window: float = DEFAULT_DOWNSCALE_STABILIZATION) -> Rules:
    """``scaleUp`` or ``scaleDown`` of ``behavior`` (a dict), defaulted as autoscaling/v2 does."""
    raw = behavior.get(direction) if isinstance(behavior, dict) else None
    raw = raw if isinstance(raw, dict) else {}
    up = direction == "scaleUp"
    window = raw.get("stabilizationWindowSeconds")
    if not isinstance(window, int):
        window = 0 if up else default_down_window
    policies = tuple((str(p.get("type")), int(p.get("value") or 0), int(p.get("periodSeconds") or 0))
                     for p in raw.get("policies") or [] if isinstance(p, dict))
    if not policies:
        policies = (("Pods", 4, 15), ("Percent", 100, 15)) if up else (("Percent", 100, 15),)
    return Rules(float(window), str(raw.get("selectPolicy") or "Max"), policies)


@dataclass
class ScaleEvent:
    change: int
    at: float
    outdated: bool = False


@dataclass
class ScalingHistory:
    """What one HPA's normalization remembers between syncs."""

    recommendations: list[tuple[int, float]] = field(default_factory=list)  # (replicas, at)
    up_events: list[ScaleEvent] = field(default_factory=list)
    down_events: list[ScaleEvent] = field(default_factory=list)

    def _record(self, desired: int, now: float, old_index: int | None) -> None:
        if old_index is not None:
            self.recommendations[old_index] = (desired, now)
        else:
            self.recommendations.append((desired, now))

    def stabilize(self, desired: int, now: float, window: float) -> int:
        """Without behavior: the highest recommendation within ``window`` seconds."""
        best, old_index = desired, None
        for i, (replicas, at) in enumerate(self.recommendations):
            if at < now - window:
                old_index = i
            elif replicas > best:
                best = replicas
        self._record(desired, now, old_index)
        return best

    def stabilize_with_behavior(self, current: int, desired: int, up: Rules, down: Rules,
                                now: float) -> tuple[int, str, str]:
        up_rec = down_rec = desired
        obsolete = now - max(up.window, down.window)
        old_index = None
        for i, (replicas, at) in enumerate(self.recommendations):
            if at > now - up.window:
                up_rec = min(replicas, up_rec)
            if at > now - down.window:
                down_rec = max(replicas, down_rec)
            if at < obsolete:
                old_index = i
        recommendation = max(current, up_rec)
        recommendation = min(recommendation, down_rec)
        self._record(desired, now, old_index)
        if recommendation > desired:
            return (recommendation, "ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation")
        if recommendation < desired:
            return (recommendation, "ScaleUpStabilized",
                    "recent recommendations were lower than current one, applying the lowest recent recommendation")
        return recommendation, "ReadyForNewScale", "recommended size matches current size"

    def record_scale(self, behavior: Any, previous: int, new: int, now: float) -> None:
        """Remember a rescale for the policies' periods (only HPAs with a behavior need it)."""
        if not isinstance(behavior, dict) or new == previous:
            return
        up = new > previous
        events = self.up_events if up else self.down_events
        rules = rules_of(behavior, "scaleUp" if up else "scaleDown")
        longest = max((period for _t, _v, period in rules.policies), default=0)
        for event in events:
            if event.at < now - longest:
                event.outdated = True
        fresh = ScaleEvent(abs(new - previous), now)
        for i, event in enumerate(events):
            if event.outdated:
                events[i] = fresh
                return
        events.append(fresh)


def _change_in_period(period: int, events: list[ScaleEvent], now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def scale_up_limit(current: int, history: ScalingHistory, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    pick, result = (min, _INT32_MAX) if rules.select == "Min" else (max, _INT32_MIN)
    for kind, value, period in rules.policies:
        start = current - _change_in_period(period, history.up_events, now) \
            + _change_in_period(period, history.down_events, now)
        proposed = start + value if kind == "Pods" else math.ceil(start * (1 + value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(current: int, history: ScalingHistory, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    pick, result = (max, _INT32_MIN) if rules.select == "Min" else (min, _INT32_MAX)
    for kind, value, period in rules.policies:
        start = current - _change_in_period(period, history.up_events, now) \
            + _change_in_period(period, history.down_events, now)
        proposed = start - value if kind == "Pods" else int(start * (1 - value / 100))
        result = pick(result, proposed)
    return result


def convert_with_rules(current: int, desired: int, min_replicas: int, max_replicas: int) -> tuple[int, str, str]:
    """Without behavior: clamp to [min, max] and to the scale-up limit max(2 x current, 4)."""
    up_limit = int(max(2.0 * current, 4.0))
    if max_replicas > up_limit:
        maximum, reason, message = (up_limit, "ScaleUpLimit",
                                    "the desired replica count is increasing faster than the maximum scale rate")
    else:
        maximum, reason, message = (max_replicas, "TooManyReplicas",
                                    "the desired replica count is more than the maximum replica count")
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def convert_with_behavior_rate(current: int, desired: int, min_replicas: int, max_replicas: int, up: Rules,
                               down: Rules, history: ScalingHistory, now: float) -> tuple[int, str, str]:
    if desired > current:
        limit = max(scale_up_limit(current, history, up, now), current)
        if max_replicas > limit:
            maximum, reason, message = (limit, "ScaleUpLimit",
                                        "the desired replica count is increasing faster than the maximum scale rate")
        else:
            maximum, reason, message = (max_replicas, "TooManyReplicas",
                                        "the desired replica count is more than the maximum replica count")
        if desired > maximum:
            return maximum, reason, message
    elif desired < current:
        limit = min(scale_down_limit(current, history, down, now), current)
        if min_replicas < limit:
            minimum, reason, message = (limit, "ScaleDownLimit",
                                        "the desired replica count is decreasing faster than the maximum scale rate")
        else:
            minimum, reason, message = (min_replicas, "TooFewReplicas",
                                        "the desired replica count is less than the minimum replica count")
        if desired < minimum:
            return minimum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def normalize(history: ScalingHistory, spec: Obj, current: int, desired: int, now: float,
              downscale_window: float = DEFAULT_DOWNSCALE_STABILIZATION) -> tuple[int, list[Condition]]:
    """The replica count to set for a metric proposal ``desired``, and the conditions to report."""
    min_replicas = int(spec.get("minReplicas") or 1)
    max_replicas = int(spec.get("maxReplicas") or 0)
    behavior = spec.get("behavior")
    conditions: list[Condition] = []
    if not isinstance(behavior, dict):
        stabilized = history.stabilize(desired, now, downscale_window)
        if stabilized != desired:
            conditions.append(("AbleToScale", "True", "ScaleDownStabilized",
                               "recent recommendations were higher than current one, applying the highest "
                               "recent recommendation"))
        else:
            conditions.append(("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"))
        final, reason, message = convert_with_rules(current, stabilized, min_replicas, max_replicas)
    else:
        up = rules_of(behavior, "scaleUp")
        down = rules_of(behavior, "scaleDown", downscale_window)
        stabilized, reason, message = history.stabilize_with_behavior(current, desired, up, down, now)
        if stabilized != desired:
            conditions.append(("AbleToScale", "True", reason, message))
        else:
            conditions.append(("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"))
        final, reason, message = convert_with_behavior_rate(current, stabilized, min_replicas, max_replicas,
                                                            up, down, history, now)
    conditions.append(("ScalingLimited", "False" if final == stabilized else "True", reason, message))
    return final, conditions
