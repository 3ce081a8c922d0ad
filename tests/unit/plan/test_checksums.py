"""Config checksums: a workload's template changes exactly when the ConfigMaps/Secrets it uses do."""

from __future__ import annotations

import copy
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.plan import CHECKSUM_ANNOTATION, Desired, referenced, with_config_checksums


def cm(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "app"},
            "data": {"k": value}}


def secret(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "app"},
            "stringData": {"password": value}}


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    pod = {"containers": [{"name": "c", "image": "x", **spec.get("container", {})}], **spec.get("pod", {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "app"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod}}}


def checksum(items: list[Desired], name: str = "web") -> str | None:
    for item in items:
        if item.obj["kind"] in ("Deployment", "CronJob") and item.obj["metadata"]["name"] == name:
            spec = item.obj["spec"]
            if item.obj["kind"] == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            return (spec["template"]["metadata"].get("annotations") or {}).get(CHECKSUM_ANNOTATION)
    raise AssertionError(name)


def test_a_change_to_used_config_changes_the_template_and_nothing_else() -> None:
    web = deployment(container={"envFrom": [{"configMapRef": {"name": "settings"}}],
                                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "password"}}}]},
                     pod={"volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "files"}}]}}]})
    plain = deployment("plain")
    base = [Desired(cm("settings", "1"), "a"), Desired(secret("pw", "x"), "b"), Desired(cm("files", "f"), "c"),
            Desired(cm("unused", "u"), "d"), Desired(web, "e"), Desired(plain, "f")]
    before = copy.deepcopy(base)
    first = with_config_checksums(base)
    assert base == before  # inputs are never modified
    assert first[5] is base[5]  # a workload using no config is passed through untouched
    one = checksum(first)
    assert one and len(one) == 64 and "x" not in one
    assert referenced(web) == {ObjectKey("", "ConfigMap", "app", "settings"), ObjectKey("", "Secret", "app", "pw"),
                               ObjectKey("", "ConfigMap", "app", "files")}
    for index, changed in ((0, cm("settings", "2")), (1, secret("pw", "y")), (2, cm("files", "g"))):
        items = list(base)
        items[index] = Desired(changed, "z")
        assert checksum(with_config_checksums(items)) != one
    items = list(base)
    items[3] = Desired(cm("unused", "v"), "d")
    assert checksum(with_config_checksums(items)) == one


def test_cronjobs_yes_jobs_no() -> None:
    job_template = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x", "envFrom": [
        {"configMapRef": {"name": "settings"}}]}], "restartPolicy": "Never"}}}}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "web", "namespace": "app"},
            "spec": {"schedule": "* * * * *", "jobTemplate": job_template}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "app"},
           "spec": job_template["spec"]}
    out = with_config_checksums([Desired(cm("settings", "1"), "a"), Desired(cron, "b"), Desired(job, "c")])
    assert checksum(out) is not None
    assert out[2].obj is job  # a Job's template is immutable: never stamped
