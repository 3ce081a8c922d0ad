"""Pure arithmetic of the Deployment controller (kubernetes ``pkg/controller/deployment/util``).

- ``template_hash``: the ``pod-template-hash`` of a pod template, FNV-1a over a canonical
  JSON encoding of the normalised template (plus ``collisionCount``), encoded with the
  API server's safe alphabet as ``controller.ComputeHash`` does. ``normalize_template``
  drops what Kubernetes' semantic equality ignores (nulls, empty maps and lists, the
  ``pod-template-hash`` label), so the template ``kubectl rollout undo`` patches back
  (with ``"creationTimestamp":null`` and ``"resources":{}``) equals the stored one.
- ``max_surge`` / ``max_unavailable``: int-or-percent fenceposts (surge rounds up,
  unavailable rounds down; both zero means unavailable 1).
- Revision and replica annotations of ReplicaSets; sorting, filtering and counting.

Used by every other module of ``gitkube.controllers.deployment``; calls nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from gitkube import errors
from gitkube.api import labels

__all__ = [
    "Obj",
    "active",
    "annotations_of",
    "available_replicas",
    "by_creation",
    "by_revision",
    "by_size_newer",
    "by_size_older",
    "desired_replicas_annotation",
    "equal_ignore_hash",
    "find_active_or_latest",
    "find_new_rs",
    "find_old_rss",
    "is_rolling",
    "is_saturated",
    "last_revision",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "new_rs_new_replicas",
    "normalize_template",
    "ready_replicas",
    "replica_set_proportion",
    "replicas_annotations_need_update",
    "revision",
    "scaled_value",
    "set_new_rs_annotations",
    "set_replicas_annotations",
    "skip_copy_annotation",
    "spec_replicas",
    "status_replicas",
    "template_hash",
    "total_replicas",
]

Obj = dict[str, Any]

# Deployment annotations never copied to its ReplicaSets (``annotationsToSkip``).
_SKIPPED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    labels.ANNOTATION_REVISION,
    labels.ANNOTATION_REVISION_HISTORY,
    labels.ANNOTATION_DESIRED_REPLICAS,
    labels.ANNOTATION_MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
})
# The longest revision-history annotation kept (``maxRevHistoryLengthInChars``).
MAX_REVISION_HISTORY_CHARS = 2000
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def annotations_of(obj: Obj) -> dict[str, str]:
    """``metadata.annotations`` of ``obj``, created if missing."""
    m = obj.setdefault("metadata", {})
    anns = m.get("annotations")
    if not isinstance(anns, dict):
        anns = {}
        m["annotations"] = anns
    return anns


def skip_copy_annotation(key: str) -> bool:
    return key in _SKIPPED_ANNOTATIONS


# -- int-or-percent ----------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of ``total`` rounded."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise errors.GitkubeError(f"invalid value for IntOrString: invalid type: {value!r}")
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise errors.GitkubeError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise errors.GitkubeError(f'invalid value for IntOrString: invalid value "{value}"') from None
    product = percent * total
    return -(-product // 100) if round_up else product // 100


def is_rolling(d: Obj) -> bool:
    return bool(((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def spec_replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _fenceposts(d: Obj) -> tuple[int, int]:
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = spec_replicas(d)
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 0), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    """How many pods may exist above ``spec.replicas`` (0 for Recreate)."""
    return _fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    """How many of ``spec.replicas`` may be unavailable (0 for Recreate or 0 replicas)."""
    desired = spec_replicas(d)
    if not is_rolling(d) or desired == 0:
        return 0
    return min(_fenceposts(d)[1], desired)


# -- templates ---------------------------------------------------------------------------


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def normalize_template(template: Obj | None) -> Obj:
    """The template as semantic equality sees it, without the ``pod-template-hash`` label."""
    t = copy.deepcopy(template or {})
    lbls = (t.get("metadata") or {}).get("labels")
    if isinstance(lbls, dict):
        lbls.pop(labels.LABEL_POD_TEMPLATE_HASH, None)
    pruned: Obj = _prune(t)
    return pruned


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """``EqualIgnoreHash``: templates equal once the pod-template-hash label is ignored."""
    return normalize_template(a) == normalize_template(b)


def template_hash(template: Obj | None, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of ``template``: FNV-1a 32 of its canonical JSON."""
    data = json.dumps(normalize_template(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(8, "little")
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(h))


# -- revisions and annotations -----------------------------------------------------------


def revision(obj: Obj | None) -> int:
    """The ``deployment.kubernetes.io/revision`` of ``obj`` (0 when missing or not a number)."""
    text = ((((obj or {}).get("metadata") or {}).get("annotations")) or {}).get(labels.ANNOTATION_REVISION, "")
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def last_revision(rss: Iterable[Obj]) -> int:
    """The second highest revision (the one ``rollout undo`` goes back to)."""
    top = second = 0
    for rs in rss:
        v = revision(rs)
        if v >= top:
            top, second = v, top
        elif v > second:
            second = v
    return second


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    anns = annotations_of(rs)
    changed = False
    for key, value in ((labels.ANNOTATION_DESIRED_REPLICAS, str(desired)), (labels.ANNOTATION_MAX_REPLICAS, str(maximum))):
        if anns.get(key) != value:
            anns[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    anns = ((rs.get("metadata") or {}).get("annotations")) or {}
    return bool(anns.get(labels.ANNOTATION_DESIRED_REPLICAS) != str(desired)
                or anns.get(labels.ANNOTATION_MAX_REPLICAS) != str(maximum))


def _int_annotation(rs: Obj, key: str) -> int | None:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {})[key])
    except (KeyError, TypeError, ValueError):
        return None


def desired_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, labels.ANNOTATION_DESIRED_REPLICAS)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """``SetNewReplicaSetAnnotations``: copy the deployment's annotations, raise the revision
    (keeping the old ones in revision-history on a rollback), add replica annotations to a
    ReplicaSet about to be created. Returns whether anything changed."""
    anns = annotations_of(rs)
    changed = False
    for key, value in (((d.get("metadata") or {}).get("annotations")) or {}).items():
        if skip_copy_annotation(key) or anns.get(key) == value:
            continue
        anns[key] = value
        changed = True
    old_text = anns.get(labels.ANNOTATION_REVISION)
    try:
        old = int(old_text) if old_text else 0
    except ValueError:
        return changed
    if old < new_revision:
        anns[labels.ANNOTATION_REVISION] = str(new_revision)
        changed = True
        if old_text:
            history = anns.get(labels.ANNOTATION_REVISION_HISTORY, "")
            previous = [r for r in history.split(",") if r]
            while previous and len(",".join([*previous, old_text])) > MAX_REVISION_HISTORY_CHARS:
                previous.pop(0)
            anns[labels.ANNOTATION_REVISION_HISTORY] = ",".join([*previous, old_text])
    if not exists and set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)):
        changed = True
    return changed


# -- sorting, filtering, counting --------------------------------------------------------


def _created(rs: Obj) -> tuple[str, str]:
    m = rs.get("metadata") or {}
    return str(m.get("creationTimestamp") or ""), str(m.get("name") or "")


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first, ties by name (``ReplicaSetsByCreationTimestamp``)."""
    return sorted(rss, key=_created)


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """Lowest revision first, ties oldest first (``ReplicaSetsByRevision``)."""
    return sorted(by_creation(rss), key=revision)


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first, ties oldest first (``ReplicaSetsBySizeOlder``)."""
    return sorted(by_creation(rss), key=lambda rs: -spec_replicas(rs))


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first, ties newest first (``ReplicaSetsBySizeNewer``)."""
    return sorted(list(reversed(by_creation(rss))), key=lambda rs: -spec_replicas(rs))


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """ReplicaSets that want pods (``FilterActiveReplicaSets``)."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def _status_sum(rss: Iterable[Obj | None], field: str) -> int:
    return sum(int(((rs.get("status") or {}).get(field)) or 0) for rs in rss if rs is not None)


def total_replicas(rss: Iterable[Obj | None]) -> int:
    """Sum of ``spec.replicas``."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def status_replicas(rss: Iterable[Obj | None]) -> int:
    return _status_sum(rss, "replicas")


def ready_replicas(rss: Iterable[Obj | None]) -> int:
    return _status_sum(rss, "readyReplicas")


def available_replicas(rss: Iterable[Obj | None]) -> int:
    return _status_sum(rss, "availableReplicas")


def find_new_rs(d: Obj, rss: Iterable[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the deployment's, ignoring the hash."""
    template = (d.get("spec") or {}).get("template")
    want = normalize_template(template)
    for rs in by_creation(rss):
        if normalize_template((rs.get("spec") or {}).get("template")) == want:
            return rs
    return None


def find_old_rss(d: Obj, rss: list[Obj]) -> list[Obj]:
    """Every ReplicaSet but the new one."""
    new = find_new_rs(d, rss)
    new_uid = (new or {}).get("metadata", {}).get("uid")
    return [rs for rs in rss if new is None or rs["metadata"].get("uid") != new_uid]


def find_active_or_latest(new: Obj | None, olds: list[Obj]) -> Obj | None:
    """The only active ReplicaSet, or the newest one when none is active, else None."""
    if new is None and not olds:
        return None
    newest_first = list(reversed(by_creation(olds)))
    alive = active([*newest_first, new])
    if not alive:
        return new if new is not None else newest_first[0]
    return alive[0] if len(alive) == 1 else None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    want = spec_replicas(d)
    return (desired is not None and spec_replicas(rs) == want and desired == want
            and int((rs.get("status") or {}).get("availableReplicas") or 0) == want)


def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new: Obj) -> int:
    """How big the new ReplicaSet may be now (``NewRSNewReplicas``)."""
    want = spec_replicas(d)
    if not is_rolling(d):
        return want
    max_total = want + max_surge(d)
    current = total_replicas(all_rss)
    if current >= max_total:
        return spec_replicas(new)
    return spec_replicas(new) + min(max_total - current, want - spec_replicas(new))


def _round_half_away(x: float) -> int:
    return int(x - 0.5) if x < 0 else int(x + 0.5)


def replica_set_proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """``GetReplicaSetProportion``: this ReplicaSet's share of ``to_add`` when scaling a
    deployment in the middle of a rollout."""
    size = spec_replicas(rs)
    if size == 0 or to_add == 0 or to_add == added:
        return 0
    if spec_replicas(d) == 0:
        fraction = -size
    else:
        before = _int_annotation(rs, labels.ANNOTATION_MAX_REPLICAS) or 0
        if before == 0:
            before = int((d.get("status") or {}).get("replicas") or 0)
        if before == 0:
            return 0
        fraction = _round_half_away(size * (spec_replicas(d) + max_surge(d)) / before) - size
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
