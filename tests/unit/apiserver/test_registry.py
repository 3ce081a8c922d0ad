"""Registry, deletion and garbage collection semantics on a real SQLite store."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.api import scheme
from gitkube.apiserver import bootstrap, deletion, gc, ipalloc
from gitkube.apiserver import registry as reg
from gitkube.store import SqliteStore

CM = scheme.by_plural("", "configmaps")
DEPLOY = scheme.by_plural("apps", "deployments")
NS = scheme.by_plural("", "namespaces")
SVC = scheme.by_plural("", "services")
POD = scheme.by_plural("", "pods")


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[reg.Registry]:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    r = reg.Registry(store, ipalloc.ClusterIPAllocator())
    await bootstrap.ensure_defaults(r, "127.0.0.1", 6443)
    yield r
    await store.close()


@pytest.fixture
async def collector(registry: reg.Registry) -> AsyncIterator[gc.GarbageCollector]:
    g = gc.GarbageCollector(registry, registry.store)
    task = asyncio.create_task(g.run())
    await asyncio.wait_for(g.synced.wait(), 5)
    yield g
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "img:1"}]}}},
    }


def cm(name: str, owners: list[dict[str, Any]] | None = None, finalizers: list[str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    if owners:
        obj["metadata"]["ownerReferences"] = owners
    if finalizers:
        obj["metadata"]["finalizers"] = finalizers
    return obj


def ref(owner: dict[str, Any]) -> dict[str, Any]:
    m = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"], "uid": m["uid"]}


OPTS = reg.WriteOptions(field_manager="test")


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            if await check():
                return
        except errors.NotFound:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def gone(r: reg.Registry, info: scheme.ResourceInfo, ns: str | None, name: str) -> bool:
    try:
        await r.get(info, ns, name)
    except errors.NotFound:
        return True
    return False


async def test_create_sets_system_fields_and_defaults(registry: reg.Registry) -> None:
    created = (await registry.create(DEPLOY, "default", deployment(), OPTS)).object
    m = created["metadata"]
    assert m["uid"] and m["creationTimestamp"] and m["generation"] == 1 and m["namespace"] == "default"
    assert int(m["resourceVersion"]) > 0
    assert created["spec"]["revisionHistoryLimit"] == 10
    assert "status" not in created
    assert m["managedFields"][0]["manager"] == "test"
    with pytest.raises(errors.AlreadyExists, match='deployments.apps "web" already exists'):
        await registry.create(DEPLOY, "default", deployment(), OPTS)


async def test_create_in_missing_namespace_and_generate_name(registry: reg.Registry) -> None:
    with pytest.raises(errors.NotFound, match='namespaces "nope" not found'):
        await registry.create(CM, "nope", cm("a"), OPTS)
    obj = cm("")
    obj["metadata"] = {"generateName": "gen-"}
    created = (await registry.create(CM, "default", obj, OPTS)).object
    assert created["metadata"]["name"].startswith("gen-") and len(created["metadata"]["name"]) == 9
    assert "generation" not in created["metadata"]


async def test_dry_run_writes_nothing(registry: reg.Registry) -> None:
    rev = await registry.store.current_revision()
    result = await registry.create(CM, "default", cm("dry"), reg.WriteOptions(dry_run=True, field_manager="t"))
    assert result.object["metadata"]["name"] == "dry"
    assert await registry.store.current_revision() == rev
    assert await gone(registry, CM, "default", "dry")


async def test_generation_and_noop_update(registry: reg.Registry) -> None:
    created = (await registry.create(DEPLOY, "default", deployment(), OPTS)).object
    rv = created["metadata"]["resourceVersion"]

    def same(live: dict[str, Any]) -> dict[str, Any]:
        return live

    unchanged = (await registry.mutate(DEPLOY, "default", "web", same, OPTS)).object
    assert unchanged["metadata"]["resourceVersion"] == rv

    def label(live: dict[str, Any]) -> dict[str, Any]:
        live["metadata"]["labels"] = {"x": "y"}
        return live

    labelled = (await registry.mutate(DEPLOY, "default", "web", label, OPTS)).object
    assert labelled["metadata"]["generation"] == 1 and labelled["metadata"]["resourceVersion"] != rv

    def scale(live: dict[str, Any]) -> dict[str, Any]:
        live["spec"]["replicas"] = 3
        return live

    scaled = (await registry.mutate(DEPLOY, "default", "web", scale, OPTS)).object
    assert scaled["metadata"]["generation"] == 2


async def test_status_kept_apart_from_spec(registry: reg.Registry) -> None:
    await registry.create(DEPLOY, "default", deployment(), OPTS)

    def set_status(live: dict[str, Any]) -> dict[str, Any]:
        live["status"] = {"replicas": 1, "observedGeneration": 1}
        live["spec"]["replicas"] = 9  # ignored by a status write
        return live

    st = (await registry.mutate(DEPLOY, "default", "web", set_status,
                                reg.WriteOptions(field_manager="ctrl", subresource="status"))).object
    assert st["status"]["replicas"] == 1 and st["spec"]["replicas"] == 1 and st["metadata"]["generation"] == 1

    def clobber(live: dict[str, Any]) -> dict[str, Any]:
        live["status"] = {}
        return live

    main = (await registry.mutate(DEPLOY, "default", "web", clobber, OPTS)).object
    assert main["status"]["replicas"] == 1  # the main resource cannot write status


async def test_resource_version_precondition(registry: reg.Registry) -> None:
    created = (await registry.create(CM, "default", cm("a"), OPTS)).object
    stale = copy.deepcopy(created)
    await registry.mutate(CM, "default", "a", lambda live: {**live, "data": {"k": "2"}}, OPTS)
    stale["data"] = {"k": "3"}
    with pytest.raises(errors.Conflict, match="the object has been modified"):
        await registry.mutate(CM, "default", "a", lambda _live: stale, OPTS)


async def test_invalid_object_lists_every_field(registry: reg.Registry) -> None:
    bad = deployment("Bad_Name")
    bad["spec"]["replicas"] = -1
    with pytest.raises(errors.Invalid) as err:
        await registry.create(DEPLOY, "default", bad, OPTS)
    fields = {c.field for c in err.value.causes}
    assert {"metadata.name", "spec.replicas"} <= fields
    assert err.value.message.startswith('Deployment.apps "Bad_Name" is invalid: [')


async def test_unknown_fields_by_validation_mode(registry: reg.Registry) -> None:
    obj = cm("u")
    obj["bogus"] = 1
    with pytest.raises(errors.BadRequest, match='strict decoding error: unknown field "bogus"'):
        await registry.create(CM, "default", copy.deepcopy(obj), reg.WriteOptions(field_manager="t", field_validation="Strict"))
    result = await registry.create(CM, "default", copy.deepcopy(obj), reg.WriteOptions(field_manager="t", field_validation="Warn"))
    assert result.warnings == ['unknown field "bogus"'] and "bogus" not in result.object


async def test_service_cluster_ip_allocation(registry: reg.Registry) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}}
    created = (await registry.create(SVC, "default", svc, OPTS)).object
    ip = created["spec"]["clusterIP"]
    assert ip.startswith("127.96.") and created["spec"]["clusterIPs"] == [ip]
    kube = await registry.get(SVC, "default", "kubernetes")
    assert kube["spec"]["clusterIP"] == "127.96.0.1"

    def replace_without_ip(live: dict[str, Any]) -> dict[str, Any]:
        live["spec"].pop("clusterIP")
        live["spec"].pop("clusterIPs")
        live["metadata"].pop("resourceVersion")
        return live

    replaced = (await registry.mutate(SVC, "default", "s", replace_without_ip, OPTS)).object
    assert replaced["spec"]["clusterIP"] == ip
    body, finished = await deletion.delete(registry, SVC, "default", "s", deletion.DeleteOptions())
    assert finished and body["kind"] == "Service"
    assert ip not in registry.ips._used


async def test_finalizers_hold_deletion(registry: reg.Registry) -> None:
    await registry.create(CM, "default", cm("f", finalizers=["example.com/hold"]), OPTS)
    body, finished = await deletion.delete(registry, CM, "default", "f", deletion.DeleteOptions())
    assert not finished and body["metadata"]["deletionTimestamp"]

    def add_finalizer(live: dict[str, Any]) -> dict[str, Any]:
        live["metadata"]["finalizers"].append("another")
        return live

    with pytest.raises(errors.Invalid, match="no new finalizers"):
        await registry.mutate(CM, "default", "f", add_finalizer, OPTS)

    def release(live: dict[str, Any]) -> dict[str, Any]:
        live["metadata"]["finalizers"] = []
        return live

    await registry.mutate(CM, "default", "f", release, OPTS)
    assert await gone(registry, CM, "default", "f")


async def test_delete_preconditions_and_status_reply(registry: reg.Registry) -> None:
    created = (await registry.create(CM, "default", cm("p"), OPTS)).object
    with pytest.raises(errors.Conflict, match="Precondition failed: UID"):
        await deletion.delete(registry, CM, "default", "p", deletion.DeleteOptions({"preconditions": {"uid": "x"}}))
    body, finished = await deletion.delete(
        registry, CM, "default", "p", deletion.DeleteOptions({"preconditions": {"uid": created["metadata"]["uid"]}}))
    assert finished and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"] == {"name": "p", "kind": "configmaps", "uid": created["metadata"]["uid"]}


async def test_gc_background(registry: reg.Registry, collector: gc.GarbageCollector) -> None:
    owner = (await registry.create(CM, "default", cm("owner"), OPTS)).object
    await registry.create(CM, "default", cm("child", [ref(owner)]), OPTS)
    other = (await registry.create(CM, "default", cm("other-owner"), OPTS)).object
    await registry.create(CM, "default", cm("shared", [ref(owner), ref(other)]), OPTS)
    await deletion.delete(registry, CM, "default", "owner", deletion.DeleteOptions({"propagationPolicy": "Background"}))
    await eventually(lambda: gone(registry, CM, "default", "child"))

    async def dangling_removed() -> bool:
        shared = await registry.get(CM, "default", "shared")
        return [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["other-owner"]

    await eventually(dangling_removed)


async def test_gc_orphan(registry: reg.Registry, collector: gc.GarbageCollector) -> None:
    owner = (await registry.create(CM, "default", cm("owner"), OPTS)).object
    await registry.create(CM, "default", cm("child", [ref(owner)]), OPTS)
    await deletion.delete(registry, CM, "default", "owner", deletion.DeleteOptions({"propagationPolicy": "Orphan"}))
    await eventually(lambda: gone(registry, CM, "default", "owner"))
    child = await registry.get(CM, "default", "child")
    assert "ownerReferences" not in child["metadata"]


async def test_gc_foreground(registry: reg.Registry, collector: gc.GarbageCollector) -> None:
    owner = (await registry.create(CM, "default", cm("owner"), OPTS)).object
    child = (await registry.create(CM, "default", cm("child", [ref(owner)]), OPTS)).object
    await registry.create(CM, "default", cm("grandchild", [ref(child)]), OPTS)
    body, finished = await deletion.delete(registry, CM, "default", "owner",
                                           deletion.DeleteOptions({"propagationPolicy": "Foreground"}))
    assert not finished and "foregroundDeletion" in body["metadata"]["finalizers"]
    await eventually(lambda: gone(registry, CM, "default", "owner"))
    assert await gone(registry, CM, "default", "child")
    assert await gone(registry, CM, "default", "grandchild")


async def test_namespace_deletion_empties_it(registry: reg.Registry, collector: gc.GarbageCollector) -> None:
    await registry.create(NS, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}, OPTS)
    await registry.create(CM, "doomed", cm("a"), OPTS)
    await registry.create(DEPLOY, "doomed", deployment(), OPTS)
    body, finished = await deletion.delete(registry, NS, None, "doomed", deletion.DeleteOptions())
    assert not finished and body["status"]["phase"] == "Terminating"
    with pytest.raises(errors.Forbidden, match="being terminated"):
        await registry.create(CM, "doomed", cm("late"), OPTS)
    await eventually(lambda: gone(registry, NS, None, "doomed"))
    assert await gone(registry, CM, "doomed", "a") and await gone(registry, DEPLOY, "doomed", "web")


async def test_bound_pod_deletes_gracefully(registry: reg.Registry) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": "n1"}}
    created = (await registry.create(POD, "default", pod, OPTS)).object
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    body, finished = await deletion.delete(registry, POD, "default", "p", deletion.DeleteOptions())
    assert not finished and body["metadata"]["deletionGracePeriodSeconds"] == 30
    # --grace-period=0 --force removes the object at once, as on Kubernetes
    body, finished = await deletion.delete(registry, POD, "default", "p", deletion.DeleteOptions({"gracePeriodSeconds": 0}))
    assert finished and body["kind"] == "Pod"
    assert await gone(registry, POD, "default", "p")


async def test_bootstrap_follows_the_listen_port(registry: reg.Registry) -> None:
    eps_info = scheme.by_plural("", "endpoints")
    before = await registry.get(eps_info, "default", "kubernetes")
    await bootstrap.ensure_defaults(registry, "127.0.0.1", 6443)
    assert (await registry.get(eps_info, "default", "kubernetes"))["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]  # unchanged port: no write
    await bootstrap.ensure_defaults(registry, "127.0.0.1", 7443)
    eps = await registry.get(eps_info, "default", "kubernetes")
    assert eps["subsets"][0]["ports"][0]["port"] == 7443
    svc = await registry.get(SVC, "default", "kubernetes")
    assert svc["spec"]["ports"][0]["targetPort"] == 7443 and svc["spec"]["clusterIP"] == "127.96.0.1"
    names = {n["metadata"]["name"] for n in (await registry.list(NS, None)).items}
    assert set(bootstrap.DEFAULT_NAMESPACES) <= names


async def test_service_type_change_allocates_and_releases(registry: reg.Registry) -> None:
    ext = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e"},
           "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    created = (await registry.create(SVC, "default", ext, OPTS)).object
    assert "clusterIP" not in created["spec"]

    def to_cluster_ip(live: dict[str, Any]) -> dict[str, Any]:
        live["spec"] = {"type": "ClusterIP", "ports": [{"port": 80}]}
        return live

    ip = (await registry.mutate(SVC, "default", "e", to_cluster_ip, OPTS)).object["spec"]["clusterIP"]
    assert ip.startswith("127.96.") and ip in registry.ips._used

    def to_external(live: dict[str, Any]) -> dict[str, Any]:
        live["spec"] = {"type": "ExternalName", "externalName": "db.example.com"}
        return live

    back = (await registry.mutate(SVC, "default", "e", to_external, OPTS)).object
    assert "clusterIP" not in back["spec"] and ip not in registry.ips._used
