"""DaemonSet and StatefulSet strategies.

DaemonSet: ``updateStrategy`` defaults to ``RollingUpdate`` with ``maxUnavailable: 1`` and
``maxSurge: 0``, ``revisionHistoryLimit: 10``; exactly one of maxSurge/maxUnavailable must be
non-zero; the selector must match the template (a missing one matches nothing) and is
immutable.

StatefulSet: ``replicas: 1``, ``podManagementPolicy: OrderedReady``, ``updateStrategy``
``RollingUpdate`` with ``partition: 0``, ``revisionHistoryLimit: 10`` and a
``persistentVolumeClaimRetentionPolicy`` of Retain/Retain. Only ``replicas``, ``ordinals``,
``template``, ``updateStrategy``, ``revisionHistoryLimit``,
``persistentVolumeClaimRetentionPolicy`` and ``minReadySeconds`` may change on update
(``spec: Forbidden: updates to statefulset spec for fields other than ...``). The template's
volume mounts may name ``volumeClaimTemplates``.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.apps import (
    always_restart,
    int_or_percent_value,
    is_not_more_than_100_percent,
    selector_immutable,
    validate_int_or_percent,
    validate_selector_and_template,
)
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_list, get_str, str_map
from gitkube.apiserver.strategy.meta import nonnegative, validate_labels
from gitkube.apiserver.strategy.pod import normalize
from gitkube.apiserver.strategy.podspec import default_pod_template, validate_pod_template_spec
from gitkube.apiserver.strategy.resources import canonicalize_list
from gitkube.errors import Cause

__all__ = [
    "DAEMONSET",
    "STATEFULSET",
    "STATEFULSET_UPDATE_FORBIDDEN",
    "default_daemonset",
    "default_statefulset",
    "validate_daemonset",
    "validate_statefulset",
]

STATEFULSET_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
_STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                        "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


# -- DaemonSet ---------------------------------------------------------------------------


def default_daemonset(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    strategy = ensure_dict(spec, "updateStrategy")
    if not get_str(strategy, "type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = ensure_dict(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    default_pod_template(ensure_dict(spec, "template"))


def _daemonset_strategy(strategy: Any) -> list[Cause]:
    kind = get_str(strategy, "type")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        return [c.not_supported("spec.updateStrategy", strategy, ("RollingUpdate", "OnDelete"))]
    rolling = strategy.get("rollingUpdate")
    path = "spec.updateStrategy.rollingUpdate"
    if not isinstance(rolling, dict):
        return [c.required(path)]
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    out = validate_int_or_percent(unavailable, c.child(path, "maxUnavailable"))
    out += validate_int_or_percent(surge, c.child(path, "maxSurge"))
    out += is_not_more_than_100_percent(unavailable, c.child(path, "maxUnavailable"))
    out += is_not_more_than_100_percent(surge, c.child(path, "maxSurge"))
    has_unavailable, has_surge = int_or_percent_value(unavailable) != 0, int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        out.append(c.invalid(c.child(path, "maxSurge"), surge, "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        out.append(c.required(c.child(path, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    return out


def validate_daemonset(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out = validate_selector_and_template(spec, "daemonset", require_selector=False)
    if not isinstance(spec.get("selector"), dict):
        # A nil selector selects nothing, so it cannot match the template (as in Kubernetes).
        labels = str_map(get_dict(get_dict(spec, "template"), "metadata"), "labels")
        out.append(c.invalid("spec.template.metadata.labels", c.go_map(labels),
                             "`selector` does not match template `labels`"))
    out += always_restart(spec, "DaemonSet", forbid=True)
    out += nonnegative(spec, "minReadySeconds", "spec")
    out += nonnegative(spec, "templateGeneration", "spec")
    out += _daemonset_strategy(spec.get("updateStrategy"))
    out += nonnegative(spec, "revisionHistoryLimit", "spec")
    return out + selector_immutable(obj, old)


# -- StatefulSet -------------------------------------------------------------------------


def default_statefulset(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if not get_str(spec, "podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = ensure_dict(spec, "updateStrategy")
    if not get_str(strategy, "type"):
        strategy["type"] = "RollingUpdate"
        if strategy.get("rollingUpdate") is None:
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict) and rolling.get("partition") is None:
        rolling["partition"] = 0
    policy = ensure_dict(spec, "persistentVolumeClaimRetentionPolicy")
    for name in ("whenDeleted", "whenScaled"):
        if not get_str(policy, name):
            policy[name] = "Retain"
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    default_pod_template(ensure_dict(spec, "template"))
    for claim in get_list(spec, "volumeClaimTemplates"):
        if not isinstance(claim, dict):
            continue
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        status = ensure_dict(claim, "status")
        if not get_str(status, "phase"):
            status["phase"] = "Pending"
        cspec = get_dict(claim, "spec")
        if cspec and not get_str(cspec, "volumeMode"):
            cspec["volumeMode"] = "Filesystem"
        resources = get_dict(cspec, "resources")
        canonicalize_list(resources.get("requests"))
        canonicalize_list(resources.get("limits"))


def _statefulset_strategy(strategy: Any) -> list[Cause]:
    kind = get_str(strategy, "type")
    rolling = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
    if not kind:
        return [c.required("spec.updateStrategy")]
    if kind == "OnDelete":
        if rolling is not None:
            return [c.invalid("spec.updateStrategy.rollingUpdate", rolling, "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return []
        path = "spec.updateStrategy.rollingUpdate"
        out = nonnegative(rolling, "partition", path)
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None:
            out += validate_int_or_percent(unavailable, c.child(path, "maxUnavailable"))
            if int_or_percent_value(unavailable) == 0:
                out.append(c.invalid(c.child(path, "maxUnavailable"), unavailable, "cannot be 0"))
            out += is_not_more_than_100_percent(unavailable, c.child(path, "maxUnavailable"))
        return out
    return [c.invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'")]


def _claim_templates(claims: list[Any]) -> tuple[set[str], list[Cause]]:
    out: list[Cause] = []
    claim_names: set[str] = set()
    for i, claim in enumerate(claims):
        cpath = c.index("spec.volumeClaimTemplates", i)
        meta = get_dict(claim, "metadata")
        name = get_str(meta, "name")
        if not name:
            out.append(c.required(c.child(cpath, "metadata", "name")))
        else:
            out += [c.invalid(c.child(cpath, "metadata", "name"), name, m) for m in names.name_is_dns_subdomain(name, False)]
            claim_names.add(name)
        out += validate_labels(meta.get("labels"), c.child(cpath, "metadata", "labels"))
        modes = get_list(get_dict(claim, "spec"), "accessModes")
        if not modes:
            out.append(c.required(c.child(cpath, "spec", "accessModes")))
        for mode in modes:
            if mode not in ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"):
                out.append(c.not_supported(c.child(cpath, "spec", "accessModes"), mode,
                                           ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")))
    return claim_names, out


def validate_statefulset(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    policy = get_str(spec, "podManagementPolicy")
    if not policy:
        out.append(c.required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        out.append(c.invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    out += _statefulset_strategy(spec.get("updateStrategy"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        for name in ("whenDeleted", "whenScaled"):
            value = get_str(retention, name)
            if value not in ("Retain", "Delete"):
                out.append(c.not_supported(c.child("spec.persistentVolumeClaimRetentionPolicy", name), value,
                                           ("Retain", "Delete")))
    out += nonnegative(spec, "replicas", "spec")
    out += nonnegative(spec, "minReadySeconds", "spec")
    out += nonnegative(get_dict(spec, "ordinals"), "start", "spec.ordinals")
    claim_names, errs = _claim_templates(get_list(spec, "volumeClaimTemplates"))
    out += errs
    out += validate_selector_and_template(spec, "statefulset", validate_template=False)
    out += validate_pod_template_spec(spec.get("template"), "spec.template", extra_volumes=claim_names)
    out += always_restart(spec, "StatefulSet", forbid=True)
    if old is not None:
        new_rest = {k: v for k, v in spec.items() if k not in _STATEFULSET_MUTABLE}
        old_rest = {k: v for k, v in get_dict(old, "spec").items() if k not in _STATEFULSET_MUTABLE}
        if normalize(new_rest) != normalize(old_rest):
            out.append(c.forbidden("spec", STATEFULSET_UPDATE_FORBIDDEN))
    return out


DAEMONSET = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_daemonset, validate=validate_daemonset)
STATEFULSET = KindStrategy(name_fn=names.name_is_dns_label, default=default_statefulset, validate=validate_statefulset)
