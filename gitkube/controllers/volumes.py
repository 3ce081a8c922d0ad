"""The PersistentVolume controller ("persistentvolume-binder-controller"): a local provisioner
and binder, after kube-controller-manager's ``pkg/controller/volume/persistentvolume``.

Claims (``sync("claim:ns/name")``): a Pending claim without ``spec.volumeName`` is bound to
the smallest Available PersistentVolume that fits it (same storage class, every requested
access mode, enough capacity, same volume mode); when none fits and the claim asks for the
default class (``storageClassName`` absent) or this provisioner's class (``local``), a volume
``pvc-<claim uid>`` is provisioned: a directory ``<base_dir>/pvc-<uid>`` exposed as
``spec.hostPath`` (``DirectoryOrCreate``), reclaim policy Delete, pre-bound to the claim. Binding
writes the volume's ``claimRef`` and ``status.phase: Bound``, then the claim's
``spec.volumeName`` (with the ``pv.kubernetes.io/bind-completed`` annotation) and its status
(Bound, access modes, capacity). A claim whose volume vanished is Lost.

Volumes (``sync("volume:name")``): an unclaimed volume is Available; a volume whose claim is
gone (checked against the API, not only the cache) is released: with reclaim policy Delete its
directory (only ever one directly below ``base_dir``) and the object are deleted, with Retain it
is left ``Released``. A provisioned Delete volume deleted by hand loses its directory too.

Claim protection (the ``pvc-protection`` controller's job): every claim gets the
``kubernetes.io/pvc-protection`` finalizer; a deleted claim keeps it, and so its volume and data,
until no pod that is not Succeeded or Failed uses it any more.

The base directory is the daemon's ``DATA/volumes`` (passed by whoever builds the controller).
Started by :class:`gitkube.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.api.quantity import Quantity, QuantityError
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers.base import Controller, split_key

__all__ = [
    "PROTECTION_FINALIZER",
    "PROVISIONER",
    "STORAGE_CLASS",
    "PersistentVolumeController",
    "find_matching_volume",
    "provisioned_volume",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PROVISIONER = "gitkube.io/local"
STORAGE_CLASS = "local"
_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"


def _storage(value: Any) -> Quantity | None:
    try:
        return Quantity.parse(value) if value is not None else None
    except QuantityError:
        return None


def _request(claim: Obj) -> Quantity | None:
    return _storage((((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage"))


def _class_of(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def _claim_ref_matches(volume: Obj, claim: Obj) -> bool:
    ref = (volume.get("spec") or {}).get("claimRef")
    if not isinstance(ref, dict):
        return False
    m = claim["metadata"]
    return (ref.get("namespace") == m.get("namespace") and ref.get("name") == m.get("name")
            and (not ref.get("uid") or ref.get("uid") == m.get("uid")))


def find_matching_volume(claim: Obj, volumes: list[Obj]) -> Obj | None:
    """The volume a claim binds to: one pre-bound to it, else the smallest Available fit."""
    for volume in volumes:
        if _claim_ref_matches(volume, claim) and not (volume["metadata"].get("deletionTimestamp")):
            return volume
    want = _request(claim)
    spec = claim.get("spec") or {}
    modes = set(spec.get("accessModes") or [])
    mode = spec.get("volumeMode") or "Filesystem"
    fits: list[tuple[Any, str, Obj]] = []
    for volume in volumes:
        vspec = volume.get("spec") or {}
        if vspec.get("claimRef") or volume["metadata"].get("deletionTimestamp"):
            continue
        if (volume.get("status") or {}).get("phase") not in (None, "", "Available", "Pending"):
            continue
        if _class_of(volume) != _class_of(claim) or (vspec.get("volumeMode") or "Filesystem") != mode:
            continue
        if not modes <= set(vspec.get("accessModes") or []):
            continue
        size = _storage((vspec.get("capacity") or {}).get("storage"))
        if size is None or want is None or size.value < want.value:
            continue
        fits.append((size.value, str(volume["metadata"]["name"]), volume))
    return min(fits, key=lambda f: (f[0], f[1]))[2] if fits else None


def _claims_of(pod: Obj) -> set[str]:
    return {str(v["persistentVolumeClaim"].get("claimName")) for v in (pod.get("spec") or {}).get("volumes") or []
            if isinstance(v.get("persistentVolumeClaim"), dict)}


def _claim_ref(claim: Obj) -> Obj:
    m = claim["metadata"]
    return {"kind": "PersistentVolumeClaim", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"],
            "apiVersion": "v1", "resourceVersion": m.get("resourceVersion", "")}


def provisioned_volume(claim: Obj, base_dir: Path) -> Obj:
    """The PersistentVolume the local provisioner makes for ``claim``."""
    name = f"pvc-{claim['metadata']['uid']}"
    spec = claim.get("spec") or {}
    storage = (((spec.get("resources") or {}).get("requests")) or {}).get("storage", "1Gi")
    vspec: Obj = {"capacity": {"storage": storage}, "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                  "persistentVolumeReclaimPolicy": "Delete", "volumeMode": spec.get("volumeMode") or "Filesystem",
                  "hostPath": {"path": str(base_dir / name), "type": "DirectoryOrCreate"},
                  "claimRef": _claim_ref(claim)}
    if _class_of(claim):
        vspec["storageClassName"] = _class_of(claim)
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {_PROVISIONED_BY: PROVISIONER}}, "spec": vspec}


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder-controller"
    workers = 2

    def __init__(self, client: Client, *, base_dir: Path, informers: dict[str, Informer] | None = None,
                 storage_class: str = STORAGE_CLASS) -> None:
        super().__init__(client, informers=informers)
        self.base_dir = Path(base_dir)
        self.storage_class = storage_class
        self.claims = self.informer("persistentvolumeclaims")
        self.volumes = self.informer("persistentvolumes")
        self.pods = self.informer("pods")
        self._gone: dict[str, Obj] = {}
        self.claims.add_handler(Handler(on_add=self._claim_changed, on_update=lambda _o, n: self._claim_changed(n),
                                        on_delete=self._claim_deleted))
        self.volumes.add_handler(Handler(on_add=self._volume_changed, on_update=lambda _o, n: self._volume_changed(n),
                                         on_delete=self._volume_deleted))
        self.pods.add_handler(Handler(on_update=lambda _o, n: self._pod_changed(n), on_delete=self._pod_changed))

    # -- handlers (enqueue only) ----------------------------------------------------------

    def _claim_changed(self, claim: Obj) -> None:
        self.queue.add(f"claim:{key_of(claim)}")

    def _claim_deleted(self, claim: Obj) -> None:
        name = (claim.get("spec") or {}).get("volumeName")
        if name:
            self.queue.add(f"volume:{name}")
        for volume in self.volumes.list():
            if _claim_ref_matches(volume, claim):
                self.queue.add(f"volume:{volume['metadata']['name']}")

    def _pod_changed(self, pod: Obj) -> None:
        ns = pod["metadata"].get("namespace")
        for name in _claims_of(pod):
            claim = self.claims.get(ns, name)
            if claim is not None and claim["metadata"].get("deletionTimestamp"):
                self.queue.add(f"claim:{ns}/{name}")

    def _volume_changed(self, volume: Obj) -> None:
        self.queue.add(f"volume:{volume['metadata']['name']}")
        ref = (volume.get("spec") or {}).get("claimRef")
        if isinstance(ref, dict) and ref.get("namespace") and ref.get("name"):
            self.queue.add(f"claim:{ref['namespace']}/{ref['name']}")

    def _volume_deleted(self, volume: Obj) -> None:
        self._gone[str(volume["metadata"]["name"])] = volume
        self._volume_changed(volume)

    # -- sync -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if kind == "claim":
            await self._sync_claim(rest)
        elif kind == "volume":
            await self._sync_volume(rest)

    async def _sync_claim(self, key: str) -> None:
        ns, name = split_key(key)
        claim = self.claims.get(ns, name)
        if claim is None:
            return
        if claim["metadata"].get("deletionTimestamp"):
            await self._release_protection(claim)
            return
        if PROTECTION_FINALIZER not in (claim["metadata"].get("finalizers") or []):
            updated = copy.deepcopy(claim)
            updated["metadata"]["finalizers"] = [*(claim["metadata"].get("finalizers") or []), PROTECTION_FINALIZER]
            claim = await self.client.update("persistentvolumeclaims", updated)
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        if volume_name:
            volume = self.volumes.get(None, volume_name)
            if volume is None:
                try:
                    volume = await self.client.get("persistentvolumes", volume_name)
                except errors.NotFound:
                    await self._claim_status(claim, {"phase": "Lost"})
                    self.events.record(claim, "Warning", "ClaimLost",
                                       "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
                    return
            if not (volume.get("spec") or {}).get("claimRef"):
                volume = await self._bind_volume(volume, claim)
            elif not _claim_ref_matches(volume, claim):
                await self._claim_status(claim, {"phase": "Lost"})
                return
            await self._bind_claim(claim, volume)
            return
        volume = find_matching_volume(claim, self.volumes.list())
        if volume is None:
            if not self._wants_provisioning(claim):
                return
            volume = await self._provision(claim)
        volume = await self._bind_volume(volume, claim)
        await self._bind_claim(claim, volume)

    async def _release_protection(self, claim: Obj) -> None:
        """Drop the protection finalizer of a deleted claim once no running pod uses it."""
        m = claim["metadata"]
        if PROTECTION_FINALIZER not in (m.get("finalizers") or []):
            return
        users = [p["metadata"]["name"] for p in self.pods.list(m["namespace"])
                 if m["name"] in _claims_of(p) and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if users:
            log.info("%s: claim %s/%s is in use by %s", self.name, m["namespace"], m["name"], ", ".join(users))
            return
        updated = copy.deepcopy(claim)
        updated["metadata"]["finalizers"] = [f for f in m.get("finalizers") or [] if f != PROTECTION_FINALIZER]
        try:
            await self.client.update("persistentvolumeclaims", updated)
        except errors.NotFound:
            return

    def _wants_provisioning(self, claim: Obj) -> bool:
        class_name = (claim.get("spec") or {}).get("storageClassName")
        return class_name is None or class_name == self.storage_class

    async def _provision(self, claim: Obj) -> Obj:
        body = provisioned_volume(claim, self.base_dir)
        name = str(body["metadata"]["name"])
        await asyncio.to_thread(self._make_dir, self.base_dir / name)
        try:
            created = await self.client.create("persistentvolumes", body)
        except errors.AlreadyExists:
            return await self.client.get("persistentvolumes", name)
        self.events.record(claim, "Normal", "ProvisioningSucceeded",
                           f"Successfully provisioned volume {name} using {PROVISIONER}")
        return created

    @staticmethod
    def _make_dir(path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)

    async def _bind_volume(self, volume: Obj, claim: Obj) -> Obj:
        """claimRef on the volume, then its status Bound."""
        if not _claim_ref_matches(volume, claim) or not (volume["spec"]["claimRef"].get("uid")):
            updated = copy.deepcopy(volume)
            updated["spec"]["claimRef"] = _claim_ref(claim)
            updated["metadata"].setdefault("annotations", {})[_BOUND_BY_CONTROLLER] = "yes"
            volume = await self.client.update("persistentvolumes", updated)
        if (volume.get("status") or {}).get("phase") != "Bound":
            updated = copy.deepcopy(volume)
            updated["status"] = {"phase": "Bound"}
            volume = await self.client.update_status("persistentvolumes", updated)
        return volume

    async def _bind_claim(self, claim: Obj, volume: Obj) -> None:
        m = claim["metadata"]
        vname = volume["metadata"]["name"]
        annotations = m.get("annotations") or {}
        if (claim.get("spec") or {}).get("volumeName") != vname or annotations.get(_BIND_COMPLETED) != "yes":
            updated = copy.deepcopy(claim)
            updated["spec"]["volumeName"] = vname
            notes = updated["metadata"].setdefault("annotations", {})
            notes[_BIND_COMPLETED] = "yes"
            notes[_BOUND_BY_CONTROLLER] = "yes"
            if (volume["metadata"].get("annotations") or {}).get(_PROVISIONED_BY):
                notes[_STORAGE_PROVISIONER] = PROVISIONER
            claim = await self.client.update("persistentvolumeclaims", updated)
        vspec = volume.get("spec") or {}
        status = {"phase": "Bound", "accessModes": list(vspec.get("accessModes") or []),
                  "capacity": dict(vspec.get("capacity") or {})}
        if await self._claim_status(claim, status):
            log.info("%s: bound claim %s/%s to volume %s", self.name, m["namespace"], m["name"], vname)

    async def _claim_status(self, claim: Obj, status: Obj) -> bool:
        current = claim.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return False
        updated = copy.deepcopy(claim)
        updated["status"] = {**current, **status}
        await self.client.update_status("persistentvolumeclaims", updated)
        return True

    async def _sync_volume(self, name: str) -> None:
        volume = self.volumes.get(None, name)
        if volume is None:
            gone = self._gone.pop(name, None)
            if gone is not None and self._deletes_data(gone):
                await asyncio.to_thread(self._remove_dir, gone)
            return
        if volume["metadata"].get("deletionTimestamp"):
            return
        spec = volume.get("spec") or {}
        ref = spec.get("claimRef")
        phase = (volume.get("status") or {}).get("phase")
        if not isinstance(ref, dict) or not ref.get("uid"):  # free, or pre-bound to a claim not yet bound
            if phase != "Available":
                await self._volume_status(volume, "Available")
            return
        claim = await self._live_claim(ref)
        if claim is not None and ref.get("uid") == claim["metadata"].get("uid"):
            if (claim.get("spec") or {}).get("volumeName") == name and phase != "Bound":
                await self._volume_status(volume, "Bound")
            return
        await self._release(volume)

    async def _live_claim(self, ref: Obj) -> Obj | None:
        try:
            return await self.client.get("persistentvolumeclaims", str(ref.get("name")), str(ref.get("namespace")))
        except errors.NotFound:
            return None

    async def _release(self, volume: Obj) -> None:
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        name = volume["metadata"]["name"]
        if policy == "Delete":
            if self._deletes_data(volume):
                await asyncio.to_thread(self._remove_dir, volume)
            try:
                await self.client.delete("persistentvolumes", name, uid=volume["metadata"].get("uid"))
            except (errors.NotFound, errors.Conflict):
                return
            log.info("%s: deleted volume %s of a deleted claim", self.name, name)
            return
        if (volume.get("status") or {}).get("phase") != "Released":
            await self._volume_status(volume, "Released")

    async def _volume_status(self, volume: Obj, phase: str) -> None:
        updated = copy.deepcopy(volume)
        updated["status"] = {"phase": phase}
        try:
            await self.client.update_status("persistentvolumes", updated)
        except errors.NotFound:
            return

    def _deletes_data(self, volume: Obj) -> bool:
        spec = volume.get("spec") or {}
        return ((volume["metadata"].get("annotations") or {}).get(_PROVISIONED_BY) == PROVISIONER
                and spec.get("persistentVolumeReclaimPolicy") == "Delete")

    def _remove_dir(self, volume: Obj) -> None:
        """Remove a provisioned volume's directory, never anything but a child of base_dir."""
        path = Path(str(((volume.get("spec") or {}).get("hostPath") or {}).get("path") or ""))
        base = self.base_dir.resolve()
        if not path.is_absolute() or path.resolve().parent != base or path.name != volume["metadata"]["name"]:
            log.warning("%s: not removing %s: not a volume directory below %s", self.name, path, base)
            return
        shutil.rmtree(path, ignore_errors=True)
