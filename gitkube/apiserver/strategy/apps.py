"""Deployment and ReplicaSet strategies, and helpers shared by the apps/v1 workloads.

Defaults (``pkg/apis/apps/v1/defaults.go``): ``replicas: 1``; a Deployment gets strategy
``RollingUpdate`` with ``maxSurge``/``maxUnavailable`` 25%, ``revisionHistoryLimit: 10`` and
``progressDeadlineSeconds: 600``; the pod template gets the PodSpec defaults.

Validation (``pkg/apis/apps/validation``): a non-empty selector that matches the template
labels (```selector` does not match template `labels```), a valid template whose
``restartPolicy`` is ``Always`` and without ``activeDeadlineSeconds``, int-or-percent
rollout bounds (not both zero, ``maxUnavailable`` at most 100%), no ``rollingUpdate`` with
``Recreate``, ``progressDeadlineSeconds`` greater than ``minReadySeconds``; the selector is
immutable on update (``field is immutable``).

Pure; registered in :mod:`gitkube.apiserver.strategy`; :mod:`.apps_sets` reuses the helpers.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import (
    KindStrategy,
    ensure_dict,
    get_dict,
    get_int,
    get_str,
    is_int,
    str_map,
)
from gitkube.apiserver.strategy.meta import (
    nonnegative,
    selector_is_empty,
    selector_matches,
    validate_label_selector,
)
from gitkube.apiserver.strategy.podspec import default_pod_template, validate_pod_template_spec
from gitkube.errors import Cause

__all__ = [
    "DEPLOYMENT",
    "REPLICASET",
    "always_restart",
    "default_deployment",
    "default_replicaset",
    "go_label_selector",
    "int_or_percent_value",
    "is_not_more_than_100_percent",
    "selector_immutable",
    "validate_deployment",
    "validate_int_or_percent",
    "validate_replicaset",
    "validate_selector_and_template",
]


def go_label_selector(selector: Any) -> c.Raw:
    """A LabelSelector rendered the way Go's ``%#v`` shows it in Kubernetes 1.32 messages."""
    match_labels = c.go_map(str_map({"m": get_dict(selector, "matchLabels")}, "m"))
    exprs = selector.get("matchExpressions") if isinstance(selector, dict) else None
    expressions = c.render(exprs) if exprs else "[]v1.LabelSelectorRequirement(nil)"
    return c.Raw(f"v1.LabelSelector{{MatchLabels:{match_labels}, MatchExpressions:{expressions}}}")


def int_or_percent_value(value: Any) -> int:
    """``getIntOrPercentValue``: the number of a percent string, or the int itself."""
    if isinstance(value, str):
        if not names.is_valid_percent(value):
            return int(value[:-1])
        return 0
    return value if is_int(value) else 0


def validate_int_or_percent(value: Any, path: str) -> list[Cause]:
    """``ValidatePositiveIntOrPercent``."""
    if isinstance(value, str):
        return [c.invalid(path, value, m) for m in names.is_valid_percent(value)]
    if is_int(value):
        return [c.invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []
    if value is None:
        return []
    return [c.invalid(path, c.render(value), "must be an integer or percentage (e.g '5%')")]


def is_not_more_than_100_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str) and not names.is_valid_percent(value) and int(value[:-1]) > 100:
        return [c.invalid(path, value, "must not be greater than 100%")]
    return []


def validate_selector_and_template(spec: dict[str, Any], kind: str, *, require_selector: bool = True,
                                   validate_template: bool = True) -> list[Cause]:
    """Selector presence and syntax, template labels matching, the pod template itself."""
    out: list[Cause] = []
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        if require_selector:
            out.append(c.required("spec.selector"))
    else:
        out += validate_label_selector(selector, "spec.selector")
        if selector_is_empty(selector):
            out.append(c.invalid("spec.selector", go_label_selector(selector), f"empty selector is invalid for {kind}"))
    template = spec.get("template")
    labels = str_map(get_dict(template, "metadata"), "labels")
    if isinstance(selector, dict) and not selector_is_empty(selector) and selector_matches(selector, labels) is False:
        out.append(c.invalid("spec.template.metadata.labels", c.go_map(labels),
                             "`selector` does not match template `labels`"))
    if validate_template:
        out += validate_pod_template_spec(template, "spec.template")
    return out


def always_restart(spec: dict[str, Any], kind: str, *, forbid: bool) -> list[Cause]:
    tspec = get_dict(get_dict(spec, "template"), "spec")
    out: list[Cause] = []
    restart = get_str(tspec, "restartPolicy")
    if restart != "Always":
        out.append(c.not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    deadline = tspec.get("activeDeadlineSeconds")
    if deadline is not None:
        if forbid:
            out.append(c.forbidden("spec.template.spec.activeDeadlineSeconds", f"activeDeadlineSeconds in {kind} is not Supported"))
        else:
            out.append(c.invalid("spec.template.spec.activeDeadlineSeconds", deadline, f"activeDeadlineSeconds in {kind} is not Supported"))
    return out


def selector_immutable(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    if old is None:
        return []
    new_sel, old_sel = get_dict(obj, "spec").get("selector"), get_dict(old, "spec").get("selector")
    if (new_sel or {}) != (old_sel or {}):
        return [c.immutable("spec.selector", go_label_selector(new_sel))]
    return []


# -- Deployment --------------------------------------------------------------------------


def default_deployment(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = ensure_dict(spec, "strategy")
    if not get_str(strategy, "type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = ensure_dict(strategy, "rollingUpdate")
        for name in ("maxUnavailable", "maxSurge"):
            if rolling.get(name) is None:
                rolling[name] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    default_pod_template(ensure_dict(spec, "template"))


def _validate_strategy(strategy: Any) -> list[Cause]:
    kind = get_str(strategy, "type")
    rolling = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
    if kind == "Recreate":
        if rolling is not None:
            return [c.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [c.required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")]
        path = "spec.strategy.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        out = validate_int_or_percent(unavailable, c.child(path, "maxUnavailable"))
        out += validate_int_or_percent(surge, c.child(path, "maxSurge"))
        if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
            out.append(c.invalid(c.child(path, "maxUnavailable"), unavailable if unavailable is not None else 0,
                                 "may not be 0 when `maxSurge` is 0"))
        return out + is_not_more_than_100_percent(unavailable, c.child(path, "maxUnavailable"))
    return [c.not_supported("spec.strategy", strategy, ("Recreate", "RollingUpdate"))]


def validate_deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out = nonnegative(spec, "replicas", "spec")
    out += validate_selector_and_template(spec, "deployment")
    out += always_restart(spec, "ReplicaSet", forbid=True)
    out += _validate_strategy(spec.get("strategy"))
    out += nonnegative(spec, "minReadySeconds", "spec")
    out += nonnegative(spec, "revisionHistoryLimit", "spec")
    deadline = get_int(spec, "progressDeadlineSeconds")
    if deadline is not None:
        out += nonnegative(spec, "progressDeadlineSeconds", "spec")
        if deadline <= (get_int(spec, "minReadySeconds") or 0):
            out.append(c.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return out + selector_immutable(obj, old)


# -- ReplicaSet --------------------------------------------------------------------------


def default_replicaset(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template(ensure_dict(spec, "template"))


def validate_replicaset(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out = nonnegative(spec, "replicas", "spec")
    out += nonnegative(spec, "minReadySeconds", "spec")
    out += validate_selector_and_template(spec, "deployment")
    out += always_restart(spec, "ReplicaSet", forbid=True)
    return out + selector_immutable(obj, old)


DEPLOYMENT = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_deployment, validate=validate_deployment)
REPLICASET = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_replicaset, validate=validate_replicaset)
