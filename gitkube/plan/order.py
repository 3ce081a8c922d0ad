"""Apply order and waves: which objects go first, with no annotations needed.

Kinds are ranked as DESIGN.md §2 orders them - Namespace (and CustomResourceDefinition, which
must exist before its custom resources) -> ResourceQuota, LimitRange -> ServiceAccount, RBAC ->
ConfigMap, Secret -> PersistentVolumeClaim -> Service -> workloads -> Ingress, HPA, PDB ->
everything else. The ``gitkube.io/sync-wave`` annotation (an integer, may be negative, default 0)
sorts before the kind rank. The sort key is (sync wave, kind rank, namespace, name, kind, group);
a wave is every object sharing (sync wave, kind rank), applied together and awaited for health
before the next. Prune runs the same order backwards.

Pure; called by :func:`gitkube.plan.make_plan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.plan.model import WAVE_ANNOTATION

__all__ = ["KIND_RANKS", "OTHER_RANK", "kind_rank", "sort_key", "sync_wave"]

_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Namespace", "CustomResourceDefinition"),
    ("ResourceQuota", "LimitRange"),
    ("ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"),
    ("ConfigMap", "Secret"),
    ("PersistentVolumeClaim",),
    ("Service",),
    ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "CronJob"),
    ("Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"),
)
KIND_RANKS: dict[str, int] = {kind: rank for rank, kinds in enumerate(_GROUPS) for kind in kinds}
OTHER_RANK = len(_GROUPS)

SortKey = tuple[int, int, str, str, str, str]


def kind_rank(kind: str) -> int:
    """0 for Namespace ... :data:`OTHER_RANK` for kinds the order does not name."""
    return KIND_RANKS.get(kind, OTHER_RANK)


def sync_wave(obj: Mapping[str, Any] | None) -> tuple[int, str | None]:
    """(wave, problem): the ``gitkube.io/sync-wave`` annotation as an int (0 when absent); an
    invalid value gives 0 and a problem text (without the object's name, the caller adds it)."""
    if not obj:
        return 0, None
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, dict) or WAVE_ANNOTATION not in annotations:
        return 0, None
    raw = annotations[WAVE_ANNOTATION]
    text = str(raw).strip() if not isinstance(raw, bool) else ""
    try:
        return int(text, 10), None
    except ValueError:
        return 0, f'invalid {WAVE_ANNOTATION} annotation {raw!r}: must be an integer such as "-1" or "2"'


def sort_key(key: ObjectKey, wave: int) -> SortKey:
    return (wave, kind_rank(key.kind), key.namespace, key.name, key.kind, key.group)
