"""The DaemonSet controller: node eligibility and rolling-update arithmetic (pure), then the
controller against a real API server with a stand-in scheduler+kubelet (binds each pod to its
target node, reports it Running and Ready, finishes graceful deletions), ControllerRevisions
with their strategy and printer, and the real kubectl's ``rollout status|history|undo``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.api import meta
from gitkube.apiserver import pki
from gitkube.apiserver.printers import printer_for
from gitkube.client import Client
from gitkube.controllers import history
from gitkube.controllers.daemonset import DaemonSetController, plan
from gitkube.controllers.daemonset.nodes import daemon_tolerations, new_pod, should_run, target_node
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running

Obj = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def daemonset(name: str = "agent", image: str = "python:3.11", **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "default", "uid": "ds-uid", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}},
                     **spec}}


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
         unschedulable: bool = False) -> Obj:
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}}, "spec": spec}


def pod(name: str, node_name: str, hash_: str, *, ready: bool = True, phase: str = "Running",
        created: str = "2026-01-01T00:00:00Z") -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "creationTimestamp": created,
                         "labels": {"app": "agent", history.CONTROLLER_REVISION_HASH: hash_}},
            "spec": {"nodeName": node_name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                       "lastTransitionTime": "2025-12-31T00:00:00Z"}]}}


# -- pure ----------------------------------------------------------------------------------


def test_should_run_follows_selector_affinity_and_taints() -> None:
    ds = daemonset()
    assert should_run(node("a"), ds) == (True, True)
    assert should_run(node("a", unschedulable=True), ds) == (True, True)  # cordoned nodes keep daemons
    not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
    assert should_run(node("a", taints=[not_ready]), ds) == (True, True)  # a default daemon toleration
    no_schedule = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    assert should_run(node("a", taints=[no_schedule]), ds) == (False, True)  # existing pod may stay
    no_execute = {"key": "dedicated", "value": "db", "effect": "NoExecute"}
    assert should_run(node("a", taints=[no_execute]), ds) == (False, False)
    tolerant = daemonset()
    tolerant["spec"]["template"]["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    assert should_run(node("a", taints=[no_execute]), tolerant) == (True, True)

    selective = daemonset()
    selective["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert should_run(node("a", {"disk": "ssd"}), selective) == (True, True)
    assert should_run(node("b", {"disk": "hdd"}), selective) == (False, False)

    affine = daemonset()
    affine["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z2"]}]},
                              {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}]}}}
    assert should_run(node("a", {"zone": "z2"}), affine)[0]
    assert should_run(node("special"), affine)[0]
    assert not should_run(node("a", {"zone": "z3"}), affine)[0]


def test_new_pod_is_pinned_by_affinity_with_daemon_tolerations() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]
    ds["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {
            "matchExpressions": [{"key": "x", "operator": "Exists"}]}}]}}
    p = new_pod(ds, "node-7", "abc")
    assert p["metadata"]["generateName"] == "agent-"
    assert p["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "abc"}
    assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                                 "uid": "ds-uid", "controller": True, "blockOwnerDeletion": True}]
    affinity = p["spec"]["affinity"]["nodeAffinity"]
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]}
    assert affinity["preferredDuringSchedulingIgnoredDuringExecution"]  # kept
    assert "nodeName" not in p["spec"] and target_node(p) == "node-7"
    keys = {(t["key"], t["effect"]) for t in p["spec"]["tolerations"]}
    assert keys == {("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")}
    not_ready = next(t for t in p["spec"]["tolerations"] if t["key"] == "node.kubernetes.io/not-ready")
    assert "tolerationSeconds" not in not_ready  # replaced by the daemon's unbounded one
    host = daemonset()
    host["spec"]["template"]["spec"]["hostNetwork"] = True
    assert any(t["key"] == "node.kubernetes.io/network-unavailable" for t in daemon_tolerations(host["spec"]["template"]["spec"]))
    assert ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"]  # the DaemonSet itself is untouched


def test_rolling_update_max_unavailable_and_max_surge() -> None:
    nodes = [node(f"n{i}") for i in range(4)]
    old = {f"n{i}": [pod(f"p{i}", f"n{i}", "old")] for i in range(4)}
    ds = daemonset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "maxSurge": 0}})
    delete, create = plan.rolling_update(ds, nodes, old, "new", NOW)
    assert [p["metadata"]["name"] for p in delete] == ["p0", "p1"] and create == []
    # One node already replaced but its new pod not ready: only one more may go.
    mixed = dict(old, n0=[pod("q0", "n0", "new", ready=False)])
    delete, _ = plan.rolling_update(ds, nodes, mixed, "new", NOW)
    assert [p["metadata"]["name"] for p in delete] == ["p1"]
    # An unavailable old pod is always replaced.
    sick = dict(mixed, n3=[pod("p3", "n3", "old", ready=False)])
    delete, _ = plan.rolling_update(ds, nodes, sick, "new", NOW)
    assert [p["metadata"]["name"] for p in delete] == ["p3", "p1"]

    surge = daemonset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})
    delete, create = plan.rolling_update(surge, nodes, old, "new", NOW)
    assert delete == [] and create == ["n0"]
    surged = dict(old, n0=[pod("p0", "n0", "old"), pod("q0", "n0", "new", created="2026-01-01T00:01:00Z")])
    delete, create = plan.rolling_update(surge, nodes, surged, "new", NOW)
    assert [p["metadata"]["name"] for p in delete] == ["p0"] and create == ["n1"]  # n0 done: surge onto n1
    assert plan.surge_and_unavailable(surge, 4) == (1, 0)
    assert plan.surge_and_unavailable(daemonset(), 4) == (0, 1)


def test_manage_and_status() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"role": "worker"}
    nodes = [node("a", {"role": "worker"}), node("b", {"role": "worker"}), node("c")]
    pods = {"a": [pod("p1", "a", "h"), pod("p2", "a", "h", created="2026-01-01T00:00:05Z")],
            "c": [pod("p3", "c", "h")], "gone": [{**pod("p4", "", "h"), "spec": {}}]}
    steps = plan.manage(ds, nodes, pods, "h", NOW)
    assert steps.create_on == ["b"]
    assert sorted(p["metadata"]["name"] for p in steps.delete) == ["p2", "p3", "p4"]
    status = plan.calculate_status(ds, nodes, pods, "h", NOW, observe=True)
    assert status == {"currentNumberScheduled": 1, "numberMisscheduled": 1, "desiredNumberScheduled": 2,
                      "numberReady": 1, "observedGeneration": 1, "updatedNumberScheduled": 1, "numberAvailable": 1,
                      "numberUnavailable": 1}
    failed = {"a": [pod("p1", "a", "h", phase="Failed")]}
    assert plan.manage(ds, nodes, failed, "h", NOW).failed[0][0] == "a"


def test_history_helpers() -> None:
    ds = daemonset()
    data = history.template_patch(ds)
    assert data["spec"]["template"]["$patch"] == "replace"
    rev = history.new_revision(ds, "DaemonSet", {"app": "agent"}, data, 3)
    h = history.hash_object(data)
    assert rev["metadata"]["name"] == f"agent-{h}" and rev["metadata"]["labels"] == {"app": "agent",
                                                                                        "controller-revision-hash": h}
    assert history.hash_object(data, 1) != h and history.hash_template(ds["spec"]["template"]).isalnum()
    rev["metadata"]["namespace"] = "default"
    assert history.owned_revisions([rev], ds) == [rev]
    assert history.owned_revisions([rev], {**ds, "metadata": {**ds["metadata"], "uid": "other"}}) == []
    other = history.new_revision(ds, "DaemonSet", {"app": "agent"}, history.template_patch(daemonset(image="x")), 1)
    assert history.equal_revision(rev, history.new_revision(ds, "DaemonSet", {}, data, 9))
    assert not history.equal_revision(rev, other)
    assert [r["revision"] for r in history.sort_revisions([rev, other])] == [1, 3]
    assert history.revision_name("x" * 300, "h") == "x" * 223 + "-h"


# -- against the API server ------------------------------------------------------------------


async def _kubelet(client: Client) -> None:
    """Scheduler + kubelet stand-in: bind to the target node, report Ready, finish deletions."""
    while True:
        for p in (await client.list("pods", "default"))["items"]:
            m = p["metadata"]
            with contextlib.suppress(errors.APIError):
                if m.get("deletionTimestamp"):
                    await client.delete("pods", m["name"], "default", grace_period_seconds=0)
                elif not p["spec"].get("nodeName"):
                    await client.bind("default", m["name"], str(target_node(p)))
                elif (p.get("status") or {}).get("phase") != "Running":
                    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                                                                  "lastTransitionTime": meta.now()}]}
                    await client.patch("pods", m["name"], {"status": status}, "default", subresource="status")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _cluster(tmp_path: Path, nodes: int = 2) -> AsyncIterator[tuple[Client, Path]]:
    data = tmp_path / "data"
    async with running_apiserver(data) as (server, client):
        for i in range(nodes):
            await client.create("nodes", node(f"node-{i}", {"role": "worker"}))
        kubeconfig, _ = pki.write_kubeconfig(data, server.url, pki.ensure_credentials(data))
        kubelet = asyncio.create_task(_kubelet(client))
        try:
            async with running(DaemonSetController(client)):
                yield client, kubeconfig
        finally:
            kubelet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await kubelet


def _manifest(name: str = "agent", image: str = "python:3.11", **spec: Any) -> Obj:
    ds = daemonset(name, image, **spec)
    ds["metadata"] = {"name": name, "namespace": "default"}
    return ds


async def _live_pods(client: Client) -> list[Obj]:
    return [p for p in (await client.list("pods", "default"))["items"] if not p["metadata"].get("deletionTimestamp")]


async def _rolled_out(client: Client, name: str, image: str, count: int) -> Obj | None:
    ds = await client.get("daemonsets", name, "default")
    st = ds.get("status") or {}
    pods = await _live_pods(client)
    done = (st.get("observedGeneration") == ds["metadata"]["generation"] and st.get("updatedNumberScheduled") == count
            and st.get("numberAvailable") == count and st.get("desiredNumberScheduled") == count
            and len(pods) == count and all(p["spec"]["containers"][0]["image"] == image for p in pods))
    return ds if done else None


async def test_one_pod_per_node_rolling_update_revisions(tmp_path: Path) -> None:
    async with _cluster(tmp_path, nodes=3) as (client, _kc):
        await client.create("daemonsets", _manifest())
        ds = await eventually(lambda: _rolled_out(client, "agent", "python:3.11", 3))
        pods = await _live_pods(client)
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-0", "node-1", "node-2"]
        assert ds["status"]["currentNumberScheduled"] == 3 and ds["status"]["numberMisscheduled"] == 0
        revs = (await client.list("controllerrevisions", "default"))["items"]
        assert len(revs) == 1 and revs[0]["revision"] == 1
        assert history.is_controlled_by(revs[0], ds)
        first_hash = revs[0]["metadata"]["labels"]["controller-revision-hash"]
        assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} == {first_hash}

        # A template change rolls node by node (maxUnavailable 1): never two nodes without a pod at once.
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = "python:3.12"
        await client.update("daemonsets", ds)
        seen_min = 3
        deadline = asyncio.get_running_loop().time() + 15
        while await _rolled_out(client, "agent", "python:3.12", 3) is None:
            nodes_with_pods = {p["spec"].get("nodeName") for p in (await client.list("pods", "default"))["items"]}
            seen_min = min(seen_min, len(nodes_with_pods - {None}))
            assert asyncio.get_running_loop().time() < deadline, "rollout did not finish"
            await asyncio.sleep(0.02)
        assert seen_min >= 2
        revs = sorted((await client.list("controllerrevisions", "default"))["items"], key=lambda r: r["revision"])
        assert [r["revision"] for r in revs] == [1, 2]

        # Back to the first template (what `kubectl rollout undo` sends): revision 1 becomes 3, no new revision.
        await client.patch("daemonsets", "agent", revs[0]["data"], "default", patch_type="strategic")
        await eventually(lambda: _rolled_out(client, "agent", "python:3.11", 3))
        revs = {r["metadata"]["name"]: r["revision"] for r in (await client.list("controllerrevisions", "default"))["items"]}
        assert revs == {f"agent-{first_hash}": 3, next(n for n in revs if not n.endswith(first_hash)): 2}
        assert {p["metadata"]["labels"]["controller-revision-hash"] for p in await _live_pods(client)} == {first_hash}

        # A node that stops matching loses its pod; a new node gets one.
        sel = await client.get("daemonsets", "agent", "default")
        sel["spec"]["template"]["spec"]["nodeSelector"] = {"role": "worker"}
        await client.update("daemonsets", sel)
        await client.patch("nodes", "node-2", {"metadata": {"labels": {"role": None}}})
        await client.create("nodes", node("node-3", {"role": "worker"}))

        async def placed() -> bool:
            return sorted(p["spec"].get("nodeName") or "" for p in await _live_pods(client)) == ["node-0", "node-1", "node-3"]
        await eventually(placed)
        await eventually(lambda: _rolled_out(client, "agent", "python:3.11", 3))


async def test_on_delete_and_failed_pods(tmp_path: Path) -> None:
    async with _cluster(tmp_path, nodes=2) as (client, _kc):
        await client.create("daemonsets", _manifest(updateStrategy={"type": "OnDelete"}))
        ds = await eventually(lambda: _rolled_out(client, "agent", "python:3.11", 2))
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = "python:3.12"
        ds = await client.update("daemonsets", ds)

        async def observed() -> Obj | None:
            cur = await client.get("daemonsets", "agent", "default")
            st = cur.get("status") or {}
            return cur if st.get("observedGeneration") == 2 and "updatedNumberScheduled" not in st else None
        await eventually(observed)
        await asyncio.sleep(0.3)
        assert {p["spec"]["containers"][0]["image"] for p in await _live_pods(client)} == {"python:3.11"}
        victim = (await _live_pods(client))[0]
        await client.delete("pods", victim["metadata"]["name"], "default", grace_period_seconds=0)

        async def one_updated() -> bool:
            images = sorted(p["spec"]["containers"][0]["image"] for p in await _live_pods(client))
            return images == ["python:3.11", "python:3.12"]
        await eventually(one_updated)

        # A failed daemon pod is deleted and replaced, with a FailedDaemonPod event.
        bad = (await _live_pods(client))[0]
        await client.patch("pods", bad["metadata"]["name"], {"status": {"phase": "Failed"}}, "default",
                           subresource="status")

        async def replaced() -> bool:
            names = {p["metadata"]["name"] for p in await _live_pods(client)}
            return bad["metadata"]["name"] not in names and len(names) == 2
        await eventually(replaced)
        events = (await client.list("events", "default"))["items"]
        assert any(e["reason"] == "FailedDaemonPod" for e in events)


async def test_controller_revision_validation_and_printer(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
               "metadata": {"name": "r1"},
               "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1}
        created = await client.create("controllerrevisions", rev, "default")
        with pytest.raises(errors.Invalid) as info:
            await client.create("controllerrevisions", {**rev, "metadata": {"name": "r2"}, "revision": -1}, "default")
        assert [c.field for c in info.value.causes] == ["revision"]
        assert "must be greater than or equal to 0" in info.value.message
        with pytest.raises(errors.Invalid) as info:
            await client.create("controllerrevisions", {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                                                        "metadata": {"name": "r3"}}, "default")
        assert "data: Required value: data is mandatory" in info.value.message
        changed = {**created, "data": {"spec": {}}}
        with pytest.raises(errors.Invalid) as info:
            await client.update("controllerrevisions", changed)
        assert "field is immutable" in info.value.message and info.value.causes[0].field == "data"
        renumbered = await client.update("controllerrevisions", {**created, "revision": 5})
        assert renumbered["revision"] == 5 and "generation" not in renumbered["metadata"]

        printer = printer_for("apps", "ControllerRevision")
        assert [c.name for c in printer.columns] == ["Name", "Controller", "Revision", "Age"]
        owned = {**renumbered, "metadata": {**renumbered["metadata"], "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u1", "controller": True}]}}
        cells = printer.row(owned, dt.datetime.now(dt.UTC))
        assert cells[:3] == ["r1", "daemonset.apps/agent", 5]
        assert printer.row({"metadata": {"name": "x"}, "revision": 0}, NOW)[1] == "<none>"


async def test_create_revision_handles_hash_collisions(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        owner = await client.create("statefulsets", {
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": 0, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "c", "image": "python"}]}}}}, "default")
        data = {"spec": {"template": {"metadata": {"labels": {"app": "db"}}}}}
        rev = history.new_revision(owner, "StatefulSet", {"app": "db"}, data, 1)
        # Someone else's revision already holds the name that count 0 gives.
        squatter = history.new_revision(owner, "StatefulSet", {}, {"other": True}, 1)
        squatter["metadata"]["name"] = history.revision_name("db", history.hash_object(data, 0))
        del squatter["metadata"]["ownerReferences"]
        await client.create("controllerrevisions", squatter, "default")
        stored, count = await history.create_revision(client, owner, rev, 0)
        assert count == 1 and stored["metadata"]["name"] == history.revision_name("db", history.hash_object(data, 1))
        again, count2 = await history.create_revision(client, owner, rev, 1)
        assert count2 == 1 and again["metadata"]["uid"] == stored["metadata"]["uid"]
        renumbered = await history.update_revision_number(client, stored, 4)
        assert renumbered["revision"] == 4
        listed = await history.list_revisions(client, "default", "app=db")
        assert [r["metadata"]["name"] for r in history.owned_revisions(listed, owner)] == [stored["metadata"]["name"]]
        await history.delete_revision(client, stored)
        await history.delete_revision(client, stored)  # NotFound is fine
        assert await history.list_revisions(client, "default", "app=db") == []


# -- real kubectl ------------------------------------------------------------------------------


async def _kubectl(kubeconfig: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig), "-n", "default", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
async def test_kubectl_rollout_status_history_undo(tmp_path: Path) -> None:
    async with _cluster(tmp_path, nodes=2) as (client, kubeconfig):
        await client.create("daemonsets", _manifest())
        code, out = await _kubectl(kubeconfig, "rollout", "status", "daemonset/agent", "--timeout=30s")
        assert code == 0 and 'daemon set "agent" successfully rolled out' in out, out
        code, out = await _kubectl(kubeconfig, "set", "image", "ds/agent", "main=python:3.12")
        assert code == 0, out
        code, out = await _kubectl(kubeconfig, "rollout", "status", "ds/agent", "--timeout=30s")
        assert code == 0 and 'daemon set "agent" successfully rolled out' in out, out
        code, out = await _kubectl(kubeconfig, "rollout", "history", "ds/agent")
        assert code == 0, out
        assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["1", "2"], out
        code, out = await _kubectl(kubeconfig, "rollout", "history", "ds/agent", "--revision=1")
        assert code == 0 and "python:3.11" in out and "python:3.12" not in out, out
        code, out = await _kubectl(kubeconfig, "get", "controllerrevisions")
        assert code == 0 and "daemonset.apps/agent" in out and "CONTROLLER" in out, out

        code, out = await _kubectl(kubeconfig, "rollout", "undo", "ds/agent")
        assert code == 0 and "rolled back" in out, out
        code, out = await _kubectl(kubeconfig, "rollout", "status", "ds/agent", "--timeout=30s")
        assert code == 0 and "successfully rolled out" in out, out
        await eventually(lambda: _rolled_out(client, "agent", "python:3.11", 2))
        code, out = await _kubectl(kubeconfig, "rollout", "history", "ds/agent")
        assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["2", "3"], out
        code, out = await _kubectl(kubeconfig, "rollout", "undo", "ds/agent", "--to-revision=2")
        assert code == 0, out
        await eventually(lambda: _rolled_out(client, "agent", "python:3.12", 2))
