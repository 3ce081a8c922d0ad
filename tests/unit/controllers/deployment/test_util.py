"""The Deployment controller's pure arithmetic: fenceposts, hashes, revisions, proportions."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube import errors
from gitkube.controllers.deployment import conditions as cond
from gitkube.controllers.deployment import util


def _d(replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%", kind: str = "RollingUpdate") -> dict[str, Any]:
    strategy: dict[str, Any] = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": replicas, "strategy": strategy}}


def _rs(name: str, replicas: int, created: str = "2026-01-01T00:00:00Z", revision: int | None = None,
        image: str = "a", **anns: str) -> dict[str, Any]:
    annotations = dict(anns)
    if revision is not None:
        annotations["deployment.kubernetes.io/revision"] = str(revision)
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created, "annotations": annotations},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                                                         "spec": {"containers": [{"name": "c", "image": image}]}}}}


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("25%", 3, True, 1), ("25%", 3, False, 0),
    ("100%", 7, False, 7), ("0%", 7, True, 0), (None, 5, True, 0), ("33%", 100, True, 33),
])
def test_scaled_value_rounding(value: Any, total: int, up: bool, expected: int) -> None:
    assert util.scaled_value(value, total, up) == expected


@pytest.mark.parametrize("bad", ["abc", "x%", True])
def test_scaled_value_rejects_garbage(bad: Any) -> None:
    with pytest.raises(errors.GitkubeError, match="invalid value for IntOrString"):
        util.scaled_value(bad, 10, True)


def test_fenceposts() -> None:
    assert (util.max_surge(_d()), util.max_unavailable(_d())) == (3, 2)
    # both rounding to zero: unavailable becomes 1
    assert (util.max_surge(_d(3, 0, "25%")), util.max_unavailable(_d(3, 0, "25%"))) == (0, 1)
    assert util.max_unavailable(_d(2, 0, 5)) == 2  # capped at replicas
    assert util.max_unavailable(_d(0)) == 0
    assert (util.max_surge(_d(kind="Recreate")), util.max_unavailable(_d(kind="Recreate"))) == (0, 0)


def test_template_hash_is_stable_over_semantically_equal_templates() -> None:
    stored = {"metadata": {"labels": {"app": "web"}},
              "spec": {"containers": [{"name": "c", "image": "a", "ports": [{"containerPort": 80}]}],
                       "securityContext": {}}}
    undo = {"metadata": {"labels": {"app": "web", "pod-template-hash": "zzz"}, "creationTimestamp": None},
            "spec": {"containers": [{"name": "c", "image": "a", "ports": [{"containerPort": 80}], "resources": {}}]}}
    h = util.template_hash(stored)
    assert h == util.template_hash(undo)
    assert util.equal_ignore_hash(stored, undo)
    assert h != util.template_hash({**stored, "spec": {"containers": [{"name": "c", "image": "b"}]}})
    assert h != util.template_hash(stored, collision_count=1)
    assert util.template_hash(stored, 1) != util.template_hash(stored, 2)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    assert h == util.template_hash(stored)  # deterministic across calls


def test_revisions() -> None:
    rss = [_rs("a", 0, revision=1), _rs("b", 0, revision=4), _rs("c", 1, revision=3), _rs("d", 0)]
    assert util.max_revision(rss) == 4
    assert util.last_revision(rss) == 3
    assert util.last_revision([_rs("a", 1, revision=2)]) == 0
    assert [rs["metadata"]["name"] for rs in util.by_revision(rss)] == ["d", "a", "c", "b"]


def test_new_rs_annotations_on_create_and_on_rollback() -> None:
    d = _d(4, 1, 1)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "v2", "deployment.kubernetes.io/revision": "7",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    rs = _rs("new", 1)
    assert util.set_new_rs_annotations(d, rs, 3, exists=False)
    assert rs["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "v2", "deployment.kubernetes.io/revision": "3",
        "deployment.kubernetes.io/desired-replicas": "4", "deployment.kubernetes.io/max-replicas": "5"}
    assert not util.set_new_rs_annotations(d, rs, 3, exists=True)
    # re-used as the new RS (rollback): revision raised, the old one kept in history
    assert util.set_new_rs_annotations(d, rs, 5, exists=True)
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "3"
    util.set_new_rs_annotations(d, rs, 8, exists=True)
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "3,5"
    # never lowered
    assert not util.set_new_rs_annotations(d, rs, 2, exists=True)


def test_find_new_and_old() -> None:
    d = _d()
    d["spec"]["template"] = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "b"}]}}
    rss = [_rs("x", 0, "2026-01-03T00:00:00Z", image="b"), _rs("y", 2, "2026-01-02T00:00:00Z", image="b"),
           _rs("z", 3, "2026-01-01T00:00:00Z")]
    new = util.find_new_rs(d, rss)
    assert new is not None and new["metadata"]["name"] == "y"  # the oldest matching one
    assert [rs["metadata"]["name"] for rs in util.find_old_rss(d, rss)] == ["x", "z"]


def test_active_or_latest_and_saturation() -> None:
    new, old = _rs("new", 0, "2026-01-02T00:00:00Z"), _rs("old", 3, "2026-01-01T00:00:00Z")
    assert util.find_active_or_latest(new, [old]) is old
    old["spec"]["replicas"] = 0
    assert util.find_active_or_latest(new, [old]) is new
    new["spec"]["replicas"], old["spec"]["replicas"] = 1, 1
    assert util.find_active_or_latest(new, [old]) is None
    d = _d(3)
    sat = _rs("s", 3, **{"deployment.kubernetes.io/desired-replicas": "3"})
    assert not util.is_saturated(d, sat)
    sat["status"] = {"availableReplicas": 3}
    assert util.is_saturated(d, sat)


def test_new_rs_new_replicas() -> None:
    d = _d(4, 1, 1)
    old, new = _rs("old", 4), _rs("new", 0)
    assert util.new_rs_new_replicas(d, [old, new], new) == 1
    old["spec"]["replicas"] = 3
    new["spec"]["replicas"] = 1
    assert util.new_rs_new_replicas(d, [old, new], new) == 2
    assert util.new_rs_new_replicas(_d(4, kind="Recreate"), [old, new], new) == 4


def test_proportions() -> None:
    d = _d(20, 3, 0)
    old = _rs("old", 10, **{"deployment.kubernetes.io/max-replicas": "13"})
    new = _rs("new", 3, **{"deployment.kubernetes.io/max-replicas": "13"})
    assert util.replica_set_proportion(old, d, 10, 0) == 8   # round(10*23/13) - 10
    assert util.replica_set_proportion(new, d, 10, 8) == 2   # capped by what is left
    shrink = _d(5, 3, 0)
    assert util.replica_set_proportion(old, shrink, -5, 0) == -4  # round(10*8/13) - 10 = -4
    assert util.replica_set_proportion(old, _d(0), -13, 0) == -10


def test_conditions_keep_transition_time_and_order() -> None:
    import datetime as dt

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    t1 = t0 + dt.timedelta(minutes=1)
    status: dict[str, Any] = {}
    cond.set_condition(status, cond.new_condition("Progressing", "True", "NewReplicaSetCreated", "m", t0))
    cond.set_condition(status, cond.new_condition("Available", "False", "MinimumReplicasUnavailable", "m", t0))
    cond.set_condition(status, cond.new_condition("Progressing", "True", "NewReplicaSetAvailable", "done", t1))
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    progressing = cond.get_condition(status, "Progressing")
    assert progressing is not None
    assert (progressing["lastTransitionTime"], progressing["lastUpdateTime"]) == ("2026-01-01T00:00:00Z",
                                                                                   "2026-01-01T00:01:00Z")
    # same status and reason: untouched
    cond.set_condition(status, cond.new_condition("Progressing", "True", "NewReplicaSetAvailable", "x", t1))
    assert cond.get_condition(status, "Progressing") == progressing


def test_timed_out() -> None:
    import datetime as dt

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    d = _d(1)
    d["spec"]["progressDeadlineSeconds"] = 60
    status: dict[str, Any] = {}
    cond.set_condition(status, cond.new_condition("Progressing", "True", "ReplicaSetUpdated", "m", t0))
    assert not cond.deployment_timed_out(d, status, t0 + dt.timedelta(seconds=60))
    assert cond.deployment_timed_out(d, status, t0 + dt.timedelta(seconds=61))
    d["spec"]["progressDeadlineSeconds"] = 2**31 - 1  # "no deadline"
    assert not cond.deployment_timed_out(d, status, t0 + dt.timedelta(days=3650))
