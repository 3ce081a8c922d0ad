"""The Endpoints controller ("endpoint-controller"), after kube-controller-manager's
``pkg/controller/endpoint``.

For every Service with a selector it keeps an Endpoints object of the same name: one
address per selected pod with an IP (``ip``, ``nodeName``, ``targetRef``), ready pods under
``addresses`` and the others under ``notReadyAddresses`` (all under ``addresses`` when the
Service sets ``publishNotReadyAddresses``), terminating and finished pods left out, ports
resolved from each Service port's ``targetPort`` (a number, or the name of a container
port), and subsets grouped by identical port sets (``RepackSubsets``). Nothing is written
when the subsets and labels are unchanged. Services without a selector are left to their
owners; when a Service goes, its Endpoints go too. Started by the ControllerManager.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client, Handler, Informer
from gitkube.controllers.base import Controller, split_key
from gitkube.controllers.replicaset import is_pod_ready

__all__ = ["EndpointsController", "endpoint_subsets"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

_HEADLESS_LABEL = "service.kubernetes.io/headless"


def _find_port(pod: Obj, service_port: Obj) -> int | None:
    """podutil.FindPort: the target port of ``service_port`` on ``pod``."""
    target = service_port.get("targetPort")
    if target is None or target == "":
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _address(pod: Obj, service: Obj) -> Obj:
    m, spec = pod["metadata"], pod.get("spec") or {}
    address: Obj = {"ip": pod["status"]["podIP"]}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": m.get("namespace"), "name": m["name"], "uid": m.get("uid")}
    return address


def _port_key(port: Obj) -> tuple[str, int, str]:
    return (str(port.get("name", "")), int(port["port"]), str(port.get("protocol", "TCP")))


def _address_order(address: Obj) -> tuple[str, str]:
    return (str(address["ip"]), str(address["targetRef"].get("uid") or ""))


def endpoint_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The repacked subsets of ``service`` for the pods its selector picked."""
    spec = service.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    headless_no_ports = not spec.get("ports") and spec.get("clusterIP") == "None"
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for pod in pods:
        status = pod.get("status") or {}
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if pod["metadata"].get("deletionTimestamp") and not tolerate_unready:
            continue
        address = _address(pod, service)
        ports: list[Obj] = []
        for sp in spec.get("ports") or []:
            number = _find_port(pod, sp)
            if number is None:
                log.info("endpoints %s: pod %s has no port %r", service["metadata"]["name"], pod["metadata"]["name"],
                         sp.get("targetPort"))
                continue
            port: Obj = {"port": number, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                port["name"] = sp["name"]
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        if not ports and not headless_no_ports:
            continue
        key = tuple(sorted(_port_key(p) for p in ports))
        ready, not_ready, _ports = groups.setdefault(key, ([], [], sorted(ports, key=_port_key)))
        (ready if tolerate_unready or is_pod_ready(pod) else not_ready).append(address)
    subsets: list[Obj] = []
    for key in sorted(groups):
        ready, not_ready, port_list = groups[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=_address_order)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_address_order)
        if port_list:
            subset["ports"] = port_list
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoint-controller"
    workers = 5

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None) -> None:
        super().__init__(client, informers=informers)
        self.services = self.informer("services")
        self.pods = self.informer("pods")
        self.endpoints = self.informer("endpoints")
        self.services.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                          on_delete=self.enqueue))
        self.pods.add_handler(Handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                      on_delete=self._pod_changed))
        self.endpoints.add_handler(Handler(on_delete=self._endpoints_deleted))

    def _pod_changed(self, pod: Obj) -> None:
        labels = meta.labels_of(pod)
        for svc in self.services.list(pod["metadata"].get("namespace")):
            selector = (svc.get("spec") or {}).get("selector") or {}
            if selector and selector.items() <= labels.items():
                self.enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        self._pod_changed(new)
        if meta.labels_of(old) != meta.labels_of(new):
            self._pod_changed(old)

    def _endpoints_deleted(self, endpoints: Obj) -> None:
        m = endpoints["metadata"]
        if self.services.get(m.get("namespace"), m["name"]) is not None:
            self.enqueue(endpoints)

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        service = self.services.get(ns, name)
        if service is None:
            try:
                await self.client.delete("endpoints", name, ns)
            except errors.NotFound:
                pass
            return
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return
        pods = [p for p in self.pods.list(ns) if selector.items() <= meta.labels_of(p).items()]
        subsets = endpoint_subsets(service, pods)
        labels = {k: v for k, v in meta.labels_of(service).items() if k != _HEADLESS_LABEL}
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[_HEADLESS_LABEL] = ""
        current = self.endpoints.get(ns, name)
        if current is not None and (current.get("subsets") or []) == subsets and meta.labels_of(current) == labels:
            return
        await self._write(service, current, subsets, labels)

    async def _write(self, service: Obj, current: Obj | None, subsets: list[Obj], labels: dict[str, str]) -> None:
        ns, name = service["metadata"]["namespace"], service["metadata"]["name"]
        try:
            if current is None:
                body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                             "metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets}
                await self.client.create("endpoints", body, ns)
            else:
                updated = copy.deepcopy(current)
                updated["metadata"]["labels"] = labels
                updated["subsets"] = subsets
                await self.client.update("endpoints", updated)
        except errors.AlreadyExists:
            raise  # the cache was behind: the retry sees the object and updates it
        except errors.APIError as exc:
            if "because it is being terminated" in exc.message:
                return
            verb = "create" if current is None else "update"
            self.events.record(service, "Warning", f"FailedTo{verb.capitalize()}Endpoint",
                               f"Failed to {verb} endpoint for service {ns}/{name}: {exc.message}")
            raise
