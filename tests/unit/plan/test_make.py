"""make_plan: actions, apply order and waves, prune safety, problems, rendering and JSON."""

from __future__ import annotations

import json
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.plan import OWNER_LABEL, SOURCE_ANNOTATION, Desired, make_plan, render_text, stamp
from tests.unit.plan import objects
from tests.unit.plan.kit import FakeServer, settle


def obj(kind: str, name: str, api: str = "v1", ns: str = "shop", **meta: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, **meta}
    if ns:
        m["namespace"] = ns
    return {"apiVersion": api, "kind": kind, "metadata": m}


def synced(desired: list[Desired]) -> tuple[dict[ObjectKey, dict[str, Any]], FakeServer]:
    server = FakeServer()
    for d in desired:
        server.apply(stamp(d.obj, d.source))
        settle(server, ObjectKey.of(stamp(d.obj, d.source)))
    return dict(server.objects), server


def test_stamp_labels_and_annotates_a_copy() -> None:
    original = objects.configmap()
    stamped = stamp(original, "config/web.yaml:12:1")
    assert stamped["metadata"]["labels"][OWNER_LABEL] == "gitkube"
    assert stamped["metadata"]["annotations"][SOURCE_ANNOTATION] == "config/web.yaml"
    assert "labels" not in original["metadata"]


def test_actions_create_update_unchanged() -> None:
    desired = [Desired(f(), f"apps/{k}.yaml:1:1") for k, f in sorted(objects.ALL.items())]
    live, _ = synced(desired)
    plan = make_plan(desired, live, {ObjectKey.of(d.obj) for d in desired})
    assert plan.in_sync and plan.counts()["unchanged"] == len(objects.ALL) and not plan.problems
    assert render_text(plan, color=False).endswith(f"Plan: 0 to create, 0 to update, 0 to delete, {len(objects.ALL)} unchanged (in sync)\n")

    changed = [Desired(objects.deployment(image="nginx:2"), "apps/Deployment.yaml:1:1")]
    changed += [d for d in desired if d.obj["kind"] not in ("Deployment", "ConfigMap")]
    changed.append(Desired(obj("ConfigMap", "new-config"), "apps/new.yaml:1:1"))
    plan = make_plan(changed, live, set(live))
    actions = {str(c.key): c.action for c in (*plan.changes, *plan.prune)}
    assert actions["Deployment.apps shop/web"] == "update"
    assert actions["ConfigMap shop/new-config"] == "create"
    assert actions["ConfigMap shop/web-config"] == "delete"
    assert not plan.in_sync
    update = next(c for c in plan.changes if c.action == "update")
    assert update.desired is not None and update.live is not None and update.source == "apps/Deployment.yaml:1:1"
    diff_lines = update.diff.splitlines()
    assert [line.split() for line in diff_lines if line[:1] in "+-" and not line.startswith(("+++", "---"))] == \
        [["-", "image:", "nginx:1.25"], ["+", "image:", "nginx:2"]]


def test_apply_order_without_annotations() -> None:
    kinds = [("HorizontalPodAutoscaler", "autoscaling/v2"), ("Deployment", "apps/v1"), ("Service", "v1"),
             ("ConfigMap", "v1"), ("Secret", "v1"), ("ServiceAccount", "v1"), ("ResourceQuota", "v1"),
             ("Namespace", "v1"), ("PersistentVolumeClaim", "v1"), ("Ingress", "networking.k8s.io/v1"),
             ("Widget", "example.com/v1"), ("Job", "batch/v1"), ("Role", "rbac.authorization.k8s.io/v1")]
    desired = [Desired(obj(k, "a", api, "" if k == "Namespace" else "shop"), "x.yaml") for k, api in kinds]
    plan = make_plan(desired, {}, None)
    order = [c.key.kind for c in plan.changes]
    assert order == ["Namespace", "ResourceQuota", "Role", "ServiceAccount", "ConfigMap", "Secret",
                     "PersistentVolumeClaim", "Service", "Deployment", "Job", "HorizontalPodAutoscaler",
                     "Ingress", "Widget"]
    assert [[c.key.kind for c in w] for w in plan.waves][:3] == [["Namespace"], ["ResourceQuota"],
                                                                  ["Role", "ServiceAccount"]]
    assert [c.wave for c in plan.changes] == [0, 1, 2, 2, 3, 3, 4, 5, 6, 6, 7, 7, 8]
    assert all(c.action == "create" for c in plan.changes) and plan.prune == []


def test_sync_wave_annotation_sorts_first_and_invalid_is_a_problem() -> None:
    late = obj("ConfigMap", "late", annotations={"gitkube.io/sync-wave": "2"})
    early = obj("Deployment", "early", "apps/v1", annotations={"gitkube.io/sync-wave": "-1"})
    bad = obj("ConfigMap", "bad", annotations={"gitkube.io/sync-wave": "soon"})
    plan = make_plan([Desired(late, "a.yaml:1:1"), Desired(early, "b.yaml:1:1"), Desired(bad, "c.yaml:4:1"),
                      Desired(obj("Namespace", "shop", ns=""), "n.yaml:1:1")], {}, None)
    assert [c.key.name for c in plan.changes] == ["early", "shop", "bad", "late"]
    assert [c.wave for c in plan.changes] == [0, 1, 2, 3]
    assert len(plan.problems) == 1
    assert plan.problems[0].startswith("c.yaml:4:1: ConfigMap shop/bad: invalid gitkube.io/sync-wave")


def test_duplicates_are_a_problem() -> None:
    plan = make_plan([Desired(obj("ConfigMap", "a"), "x.yaml:1:1"), Desired(obj("ConfigMap", "a"), "y.yaml:3:1")],
                     {}, None)
    assert plan.problems == ["y.yaml:3:1: ConfigMap shop/a is defined twice (first in x.yaml:1:1)"]
    assert len(plan.changes) == 1


def _inventory_setup() -> tuple[list[Desired], dict[ObjectKey, dict[str, Any]], set[ObjectKey]]:
    kept = Desired(obj("ConfigMap", "kept"), "k.yaml:1:1")
    gone = [Desired(obj("ConfigMap", "old"), "o.yaml:1:1"),
            Desired(obj("Deployment", "olddep", "apps/v1") | {"spec": objects.deployment()["spec"]}, "d.yaml:1:1"),
            Desired(obj("Namespace", "oldns", ns=""), "n.yaml:1:1"),
            Desired(obj("ConfigMap", "protected", annotations={"gitkube.io/prune": "disabled"}), "p.yaml:1:1")]
    live, server = synced([kept, *gone])
    foreign = obj("ConfigMap", "foreign")
    server.apply(foreign, manager="kubectl")
    vanished = ObjectKey("", "ConfigMap", "shop", "vanished")
    live = dict(server.objects)
    inventory = {ObjectKey.of(d.obj) for d in (kept, *gone)} | {ObjectKey.of(foreign), vanished}
    return [kept], live, inventory


def test_prune_safety_and_order() -> None:
    desired, live, inventory = _inventory_setup()
    plan = make_plan(desired, live, inventory)
    assert [str(c.key) for c in plan.prune] == ["Deployment.apps shop/olddep", "ConfigMap shop/old", "Namespace oldns"]
    assert [c.wave for c in plan.prune] == [0, 1, 2]
    assert all(c.action == "delete" and c.desired is None and c.live is not None for c in plan.prune)
    skipped = {str(k): why for k, why in plan.skipped_prune}
    assert skipped == {"ConfigMap shop/foreign": "not owned by gitkube (no label app.kubernetes.io/managed-by=gitkube)",
                       "ConfigMap shop/protected": "annotated gitkube.io/prune: disabled"}
    assert not plan.problems
    assert "-  name: old" in next(c.diff for c in plan.prune if c.key.name == "old")


def test_first_sync_prunes_nothing() -> None:
    desired, live, _ = _inventory_setup()
    plan = make_plan(desired, live, None)
    assert plan.prune == [] and plan.skipped_prune == []


def test_empty_desired_set_refuses_to_prune() -> None:
    _, live, inventory = _inventory_setup()
    plan = make_plan([], live, inventory)
    assert plan.prune == []
    assert plan.problems == ["the desired set is empty: refusing to prune 4 objects (pass --allow-empty to delete them)"]
    plan = make_plan([], live, inventory, allow_empty=True)
    assert len(plan.prune) == 4 and not plan.problems


def test_render_text_and_json() -> None:
    desired, live, inventory = _inventory_setup()
    desired.append(Desired(objects.secret(), "s.yaml:1:1"))
    plan = make_plan(desired, live, inventory)
    text = render_text(plan, color=False)
    assert "+ create Secret shop/db  (s.yaml:1:1)" in text
    assert "- delete ConfigMap shop/old" in text
    assert "Plan: 1 to create, 0 to update, 3 to delete, 1 unchanged" in text
    assert "not pruned: ConfigMap shop/protected: annotated gitkube.io/prune: disabled" in text
    lines = text.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("ACTION"))):]
    assert table[1].split()[:3] == ["create", "Secret", "shop/db"]
    assert "\033[" not in text
    coloured = render_text(plan, color=True)
    assert "\033[32m+" in coloured and "\033[31m-" in coloured
    assert render_text(plan, color=False) == text
    doc = json.loads(json.dumps(plan.to_json()))
    assert doc["summary"] == {"create": 1, "update": 0, "delete": 3, "unchanged": 1}
    assert {c["object"] for c in doc["prune"]} == {"ConfigMap shop/old", "Deployment.apps shop/olddep", "Namespace oldns"}
    dumped = json.dumps(doc) + text
    assert "hunter2" not in dumped and "aHVudGVyMg" not in dumped and "YWRtaW4=" not in dumped
    assert "password: (sensitive)" in text
