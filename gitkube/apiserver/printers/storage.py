"""Printers for core/v1 PersistentVolumeClaim and PersistentVolume (Kubernetes 1.32 ``printers.go``).

- PersistentVolumeClaim: NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS
  VOLUMEATTRIBUTESCLASS AGE | VOLUMEMODE. Capacity and access modes come from the status and
  show only once the claim names a volume; a claim being deleted shows ``Terminating``.
- PersistentVolume: NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS
  VOLUMEATTRIBUTESCLASS REASON AGE | VOLUMEMODE; CLAIM is ``namespace/name`` of the claimRef.

Access modes print abbreviated in Kubernetes' fixed order (``RWO,ROX,RWX,RWOP``); an unset
volume mode or attributes class prints ``<unset>``. Used through
``gitkube.apiserver.printers.PRINTERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer
from gitkube.apiserver.printers.format import quantity_string, translate_timestamp_since

__all__ = ["PERSISTENTVOLUME", "PERSISTENTVOLUMECLAIM", "access_modes_string"]

_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
_UNSET = "<unset>"


def access_modes_string(modes: Any) -> str:
    """``GetAccessModesAsString``: known modes abbreviated, deduplicated, in a fixed order."""
    present = set(modes) if isinstance(modes, list) else set()
    return ",".join(short for mode, short in _MODES if mode in present)


def _storage_class(obj: Mapping[str, Any]) -> str:
    """``GetPersistentVolume(Claim)Class``: the beta annotation wins over the field."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    beta = annotations.get("volume.beta.kubernetes.io/storage-class")
    if isinstance(beta, str):
        return beta
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def _phase(obj: Mapping[str, Any]) -> str:
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str((obj.get("status") or {}).get("phase") or "")


def _attributes_class(spec: Mapping[str, Any]) -> str:
    value = spec.get("volumeAttributesClassName")
    return str(value) if value else _UNSET


def _pvc(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    capacity = modes = ""
    volume = str(spec.get("volumeName") or "")
    if volume:
        modes = access_modes_string(status.get("accessModes"))
        stored = (status.get("capacity") or {}).get("storage")
        capacity = quantity_string(stored) if stored is not None else "0"
    return [
        str(meta.get("name") or ""),
        _phase(obj),
        volume,
        capacity,
        modes,
        _storage_class(obj),
        _attributes_class(spec),
        translate_timestamp_since(meta.get("creationTimestamp"), now),
        str(spec.get("volumeMode") or _UNSET),
    ]


def _pv(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace') or ''}/{ref.get('name') or ''}" if isinstance(ref, dict) else ""
    stored = (spec.get("capacity") or {}).get("storage")
    return [
        str(meta.get("name") or ""),
        quantity_string(stored) if stored is not None else "0",
        access_modes_string(spec.get("accessModes")),
        str(spec.get("persistentVolumeReclaimPolicy") or ""),
        _phase(obj),
        claim,
        _storage_class(obj),
        _attributes_class(spec),
        str(status.get("reason") or ""),
        translate_timestamp_since(meta.get("creationTimestamp"), now),
        str(spec.get("volumeMode") or _UNSET),
    ]


PERSISTENTVOLUMECLAIM = Printer(
    columns=(
        NAME,
        Column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
        Column("Volume", description="volumeName is the binding reference to the PersistentVolume backing this claim."),
        Column("Capacity", description="capacity represents the actual resources of the underlying volume."),
        Column("Access Modes", description="accessModes contains the actual access modes the volume backing the PVC has."),
        Column("StorageClass", description="StorageClass of the pvc"),
        Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
        AGE,
        Column("VolumeMode", priority=1,
               description="volumeMode defines what type of volume is required by the claim."),
    ),
    row=_pvc,
)

PERSISTENTVOLUME = Printer(
    columns=(
        NAME,
        Column("Capacity", description="capacity is the description of the persistent volume's resources and capacity."),
        Column("Access Modes", description="accessModes contains all ways the volume can be mounted."),
        Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what happens to a persistent "
                                             "volume when released from its claim."),
        Column("Status", description="phase indicates if a volume is available, bound to a claim, or released by a "
                                     "claim."),
        Column("Claim", description="claimRef is part of a bi-directional binding between PersistentVolume and "
                                    "PersistentVolumeClaim."),
        Column("StorageClass", description="StorageClass of the pv"),
        Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
        Column("Reason", description="reason is a brief CamelCase string that describes any failure and is meant for "
                                     "machine parsing and tidy display in the CLI."),
        AGE,
        Column("VolumeMode", priority=1,
               description="volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
                           "remain in raw block state."),
    ),
    row=_pv,
)
