"""The HPA's pure halves with a fake clock: the replica calculator and the normalization
(stabilization windows, policies, min/max) against kube-controller-manager's rules."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api import meta
from gitkube.controllers import hpa_behavior as hb
from gitkube.controllers import hpa_replicas as rc

T0 = 1_800_000_000.0  # a fixed "now" (2027-01-15)


def stamp(t: float) -> str:
    import datetime as dt

    return meta.format_time(dt.datetime.fromtimestamp(t, dt.UTC))


def pod(name: str, cpu: str = "100m", ready: bool = True, started: float = T0 - 3600, phase: str = "Running",
        ready_since: float | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]},
            "status": {"phase": phase, "startTime": stamp(started),
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": stamp(ready_since if ready_since is not None
                                                                   else started + 5)}]}}


def metrics(**milli: int) -> dict[str, rc.PodMetric]:
    return {name: rc.PodMetric(value, T0 - 1, 15.0) for name, value in milli.items()}


def test_pod_metrics_sum_containers_in_milli_units() -> None:
    items = [{"metadata": {"name": "a"}, "timestamp": stamp(T0), "window": "15s",
              "containers": [{"name": "x", "usage": {"cpu": "250000000n", "memory": "10Mi"}},
                             {"name": "y", "usage": {"cpu": "50m", "memory": "1Ki"}}]},
             {"metadata": {"name": "b"}, "containers": [{"name": "x", "usage": {"memory": "1Ki"}}]}]
    cpu = rc.pod_metrics(items, "cpu")
    assert cpu == {"a": rc.PodMetric(300, T0, 15.0)}  # b has no cpu sample: left out
    assert rc.pod_metrics(items, "memory")["a"].value == (10 * 1024 * 1024 + 1024) * 1000
    assert rc.pod_metrics(items, "cpu", container="y")["a"].value == 50


def test_utilization_scales_up_by_the_ratio() -> None:
    pods = [pod("a"), pod("b")]
    replicas, utilization, raw = rc.utilization_replicas(2, 50, "cpu", pods, metrics(a=100, b=100), T0)
    assert (replicas, utilization, raw) == (4, 100, 100)


def test_within_tolerance_keeps_the_count() -> None:
    pods = [pod("a"), pod("b")]
    assert rc.utilization_replicas(2, 50, "cpu", pods, metrics(a=54, b=54), T0)[0] == 2
    assert rc.utilization_replicas(2, 50, "cpu", pods, metrics(a=56, b=56), T0)[0] == 3


def test_scale_down_counts_missing_pods_at_their_request() -> None:
    pods = [pod("a"), pod("b"), pod("c"), pod("d")]
    # a, b at 10% of a 50% target: ratio 0.2; c, d missing count as 100%: (10+10+100+100)/4=55% -> within
    # tolerance of the target? 55/50 = 1.1 > 1 while the raw ratio was < 1: keep the count.
    assert rc.utilization_replicas(4, 50, "cpu", pods, metrics(a=10, b=10), T0)[0] == 4
    # with a 90% target: (10+10+100+100)/4 = 55% -> ratio .61 -> ceil(.61*4) = 3
    assert rc.utilization_replicas(4, 90, "cpu", pods, metrics(a=10, b=10), T0)[0] == 3


def test_unready_and_pending_pods_do_not_push_a_scale_up() -> None:
    pods = [pod("a"), pod("b", ready=False, started=T0 - 60), pod("c", phase="Pending")]
    # a alone is at 200% of 100%: unready b counts as 0 -> (200+0)/2 = 100% -> no change
    assert rc.utilization_replicas(3, 100, "cpu", pods, metrics(a=200, b=300), T0)[0] == 3
    # a at 400%: (400+0)/2 = 200% -> ceil(2 * 2) = 4
    assert rc.utilization_replicas(3, 100, "cpu", pods, metrics(a=400, b=300), T0)[0] == 4


def test_a_sample_taken_before_one_window_of_readiness_is_unready() -> None:
    fresh = pod("a", started=T0 - 30, ready_since=T0 - 5)  # in the cpu initialization period
    groups = rc.group_pods([fresh], {"a": rc.PodMetric(100, T0 - 1, 15.0)}, "cpu", T0)
    assert groups.unready == {"a"}
    groups = rc.group_pods([fresh], {"a": rc.PodMetric(100, T0 + 11, 15.0)}, "cpu", T0 + 12)
    assert groups.ready == 1
    assert rc.group_pods([fresh], {"a": rc.PodMetric(100, T0 - 1, 15.0)}, "memory", T0).ready == 1


def test_average_value_and_errors() -> None:
    pods = [pod("a"), pod("b")]
    assert rc.average_value_replicas(2, 100, "cpu", pods, metrics(a=300, b=300), T0) == (6, 300)
    with pytest.raises(rc.MetricsError, match="no metrics returned from resource metrics API"):
        rc.utilization_replicas(2, 50, "cpu", pods, {}, T0)
    with pytest.raises(rc.MetricsError, match="missing request for cpu in container c of Pod x"):
        no_request = pod("x")
        no_request["spec"]["containers"][0]["resources"] = {}
        rc.utilization_replicas(1, 50, "cpu", [no_request], metrics(x=10), T0)


def test_no_behavior_keeps_the_highest_recommendation_for_five_minutes() -> None:
    history = hb.ScalingHistory()
    spec: dict[str, Any] = {"minReplicas": 1, "maxReplicas": 10}
    assert hb.normalize(history, spec, 1, 4, T0)[0] == 4
    replicas, conditions = hb.normalize(history, spec, 4, 1, T0 + 60)
    assert replicas == 4
    assert conditions[0][2] == "ScaleDownStabilized"
    history2 = hb.ScalingHistory()
    hb.normalize(history2, spec, 1, 4, T0)
    assert hb.normalize(history2, spec, 4, 1, T0 + 301)[0] == 1


def test_no_behavior_limits_scale_up_to_double_or_four() -> None:
    history = hb.ScalingHistory()
    replicas, conditions = hb.normalize(history, {"minReplicas": 1, "maxReplicas": 20}, 1, 10, T0)
    assert replicas == 4
    assert conditions[-1] == ("ScalingLimited", "True", "ScaleUpLimit",
                              "the desired replica count is increasing faster than the maximum scale rate")
    replicas, conditions = hb.normalize(hb.ScalingHistory(), {"minReplicas": 1, "maxReplicas": 3}, 1, 10, T0)
    assert replicas == 3 and conditions[-1][2] == "TooManyReplicas"
    replicas, conditions = hb.normalize(hb.ScalingHistory(), {"minReplicas": 2, "maxReplicas": 3}, 3, 1, T0)
    assert replicas == 2 and conditions[-1][2] == "TooFewReplicas"


def behavior(down_window: int = 0, up: list[dict[str, Any]] | None = None,
             down: list[dict[str, Any]] | None = None, select: str = "Max") -> dict[str, Any]:
    return {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": select,
                        "policies": up or [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                           {"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": down_window, "selectPolicy": "Max",
                          "policies": down or [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_behavior_scale_down_window() -> None:
    spec = {"minReplicas": 1, "maxReplicas": 10, "behavior": behavior(down_window=30)}
    history = hb.ScalingHistory()
    assert hb.normalize(history, spec, 1, 5, T0)[0] == 5
    replicas, conditions = hb.normalize(history, spec, 5, 1, T0 + 10)
    assert replicas == 5 and conditions[0][2] == "ScaleDownStabilized"
    assert hb.normalize(history, spec, 5, 1, T0 + 31)[0] == 1


def test_behavior_default_scale_down_window_is_five_minutes() -> None:
    spec = {"minReplicas": 1, "maxReplicas": 10, "behavior": {"scaleUp": behavior()["scaleUp"]}}
    history = hb.ScalingHistory()
    hb.normalize(history, spec, 1, 5, T0)
    assert hb.normalize(history, spec, 5, 1, T0 + 299)[0] == 5
    assert hb.normalize(history, spec, 5, 1, T0 + 301)[0] == 1


def test_pods_policy_counts_the_changes_of_its_period() -> None:
    rules = {"minReplicas": 1, "maxReplicas": 50,
             "behavior": behavior(up=[{"type": "Pods", "value": 2, "periodSeconds": 60}])}
    history = hb.ScalingHistory()
    replicas, conditions = hb.normalize(history, rules, 2, 10, T0)
    assert replicas == 4 and conditions[-1][2] == "ScaleUpLimit"
    history.record_scale(rules["behavior"], 2, 4, T0)
    assert hb.normalize(history, rules, 4, 10, T0 + 30)[0] == 4  # 2 pods already added in this minute
    assert hb.normalize(history, rules, 4, 10, T0 + 61)[0] == 6


def test_percent_policy_and_select_min_and_disabled() -> None:
    up = [{"type": "Pods", "value": 1, "periodSeconds": 15}, {"type": "Percent", "value": 50, "periodSeconds": 15}]
    spec = {"minReplicas": 1, "maxReplicas": 50, "behavior": behavior(up=up)}
    assert hb.normalize(hb.ScalingHistory(), spec, 4, 20, T0)[0] == 6  # max(4+1, ceil(4*1.5))
    spec = {"minReplicas": 1, "maxReplicas": 50, "behavior": behavior(up=up, select="Min")}
    assert hb.normalize(hb.ScalingHistory(), spec, 4, 20, T0)[0] == 5
    spec = {"minReplicas": 1, "maxReplicas": 50, "behavior": behavior(up=up, select="Disabled")}
    assert hb.normalize(hb.ScalingHistory(), spec, 4, 20, T0)[0] == 4
    down = [{"type": "Percent", "value": 50, "periodSeconds": 15}]
    spec = {"minReplicas": 1, "maxReplicas": 50, "behavior": behavior(down=down)}
    replicas, conditions = hb.normalize(hb.ScalingHistory(), spec, 8, 1, T0)
    assert replicas == 4 and conditions[-1][2] == "ScaleDownLimit"
