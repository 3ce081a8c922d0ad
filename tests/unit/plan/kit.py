"""A live-object factory for plan tests: the API server's own write path, without a server.

:class:`FakeServer` runs exactly the pure functions gitkube's API server runs on a write -
server-side apply (``apiserver.patch.apply``), create/update preparation, per-kind defaulting and
validation (``apiserver.admission`` / ``apiserver.strategy``), ordinary-write ownership tracking
(``track_update``) - plus what the registry adds (uid, resourceVersion, generation, a cluster IP).
Controllers' writes (status, revision annotations, a scale) are made through the same update
path. So the live objects the tests compare against have the shape the API server returns.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.api.scheme import by_kind
from gitkube.apiserver import admission, strategy
from gitkube.apiserver.patch.apply import server_side_apply, track_update

NOW = "2024-05-01T10:00:00Z"


class FakeServer:
    def __init__(self) -> None:
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self._rv = itertools.count(100)
        self._ip = itertools.count(10)
        self._uid = itertools.count(1)

    def get(self, key: ObjectKey) -> dict[str, Any]:
        return copy.deepcopy(self.objects[key])

    def apply(self, desired: dict[str, Any], manager: str = "gitkube") -> dict[str, Any]:
        """``PATCH`` with ``application/apply-patch+yaml`` and ``force=true``."""
        api_version, kind = desired["apiVersion"], desired["kind"]
        info = by_kind(api_version, kind)
        assert info is not None
        body = copy.deepcopy(desired)
        if info.namespaced:
            body["metadata"].setdefault("namespace", "default")
        key = ObjectKey.of(body)
        live = self.objects.get(key)
        new = server_side_apply(copy.deepcopy(live), body, manager=manager, force=True,
                                api_version=api_version, kind=kind, now=NOW)
        if live is None:
            meta = new["metadata"]
            meta["uid"] = f"uid-{next(self._uid)}"
            meta["creationTimestamp"] = NOW
            if info.spec_fields:
                meta["generation"] = 1
            admission.prepare_for_create(info, new)
            admission.default_and_validate(info, new, None)
            if kind == "Service" and (new["spec"].get("type") or "ClusterIP") != "ExternalName":
                ip = f"10.96.0.{next(self._ip)}"
                new["spec"]["clusterIP"] = ip
                new["spec"]["clusterIPs"] = [ip]
                new["spec"].setdefault("ipFamilies", ["IPv4"])
                new["spec"].setdefault("ipFamilyPolicy", "SingleStack")
        else:
            new = self._finish_update(info, live, new)
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = new
        return copy.deepcopy(new)

    def _finish_update(self, info: Any, live: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        if info.has_status:
            if "status" in live:
                new["status"] = copy.deepcopy(live["status"])
            else:
                new.pop("status", None)
        strategy.prepare_for_update(info, new, live)
        admission.default_and_validate(info, new, live)
        if info.spec_fields:
            gen = int(live["metadata"].get("generation") or 1)
            if {f: new.get(f) for f in info.spec_fields} != {f: live.get(f) for f in info.spec_fields}:
                gen += 1
            new["metadata"]["generation"] = gen
        return new

    def update(self, key: ObjectKey, mutate: Callable[[dict[str, Any]], None], *, manager: str,
               subresource: str = "") -> dict[str, Any]:
        """An ordinary write (``kubectl edit``, ``kubectl scale``, a controller's status write)."""
        live = self.objects[key]
        info = by_kind(live["apiVersion"], live["kind"])
        assert info is not None
        new = copy.deepcopy(live)
        mutate(new)
        if not subresource:
            new = self._finish_update(info, live, new)
        track_update(live, new, manager=manager, api_version=info.api_version, kind=info.kind, now=NOW,
                     subresource=subresource)
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = new
        return copy.deepcopy(new)


def settle(server: FakeServer, key: ObjectKey) -> dict[str, Any]:
    """What the controllers write after a workload is applied: status, revision annotations."""
    obj = server.objects[key]
    kind = obj["kind"]
    if kind == "Deployment":
        replicas = obj["spec"].get("replicas", 1)
        server.update(key, lambda o: o["metadata"].setdefault("annotations", {}).update(
            {"deployment.kubernetes.io/revision": "1"}), manager="deployment-controller")

        def status(o: dict[str, Any]) -> None:
            o["status"] = {
                "observedGeneration": o["metadata"]["generation"], "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "lastUpdateTime": NOW, "lastTransitionTime": NOW, "message": "ok"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "lastUpdateTime": NOW, "lastTransitionTime": NOW, "message": "ok"},
                ],
            }
        server.update(key, status, manager="deployment-controller", subresource="status")
    elif kind == "Pod":
        server.update(key, lambda o: o["spec"].__setitem__("nodeName", "node-1"), manager="kube-scheduler",
                      subresource="binding")

        def pod_status(o: dict[str, Any]) -> None:
            o["status"].update({"phase": "Running", "podIP": "10.0.0.5", "hostIP": "127.0.0.1",
                                "conditions": [{"type": "Ready", "status": "True"}]})
        server.update(key, pod_status, manager="kubelet", subresource="status")
    return server.get(key)
