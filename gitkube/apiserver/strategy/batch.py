"""Job and CronJob strategies.

Job defaults (``SetDefaults_Job`` and the job registry): ``parallelism``/``completions`` 1
when both are unset, ``backoffLimit: 6``, ``completionMode: NonIndexed``, ``suspend: false``,
``podReplacementPolicy: TerminatingOrFailed`` (``Failed`` with a pod failure policy) and,
unless ``manualSelector: true``, the generated selector
``batch.kubernetes.io/controller-uid=<metadata.uid>`` with the template labels
``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name``, ``controller-uid``
and ``job-name`` (the registry sets ``metadata.uid`` before defaulting). The Job's own labels
default to the template's.

Job validation: template ``restartPolicy`` must be ``OnFailure`` or ``Never`` (``Required
value: valid values: "OnFailure", "Never"`` for the defaulted ``Always``), the selector must
match the template and carry the generated labels, counts are non-negative, and on update
the selector, the template (except scheduling directives of a suspended Job that never
started), ``completionMode`` and ``podFailurePolicy`` are immutable.

CronJob: ``concurrencyPolicy: Allow``, ``suspend: false``, history limits 3 and 1; the
schedule must parse (:mod:`.cron`), ``timeZone`` must be a known zone, the name at most 52
characters, and the job template may not set a selector.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

import copy
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.apps import go_label_selector
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_int, get_str, str_map
from gitkube.apiserver.strategy.cron import schedule_error, time_zone_error
from gitkube.apiserver.strategy.meta import (
    nonnegative,
    selector_matches,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from gitkube.apiserver.strategy.pod import normalize
from gitkube.apiserver.strategy.podspec import default_pod_template, validate_pod_template_spec
from gitkube.errors import Cause

__all__ = [
    "CONTROLLER_UID_LABEL",
    "CRONJOB",
    "JOB",
    "JOB_NAME_LABEL",
    "default_cronjob",
    "default_job",
    "default_job_spec",
    "validate_cronjob",
    "validate_job",
    "validate_job_spec",
]

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_LEGACY_UID_LABEL = "controller-uid"
_LEGACY_NAME_LABEL = "job-name"
_MAX_INDEXED_PARALLELISM = 100000


# -- Job ---------------------------------------------------------------------------------


def default_job_spec(spec: dict[str, Any]) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    failure_policy = spec.get("podFailurePolicy")
    if isinstance(failure_policy, dict):
        for rule in failure_policy.get("rules") or []:
            for pattern in (rule.get("onPodConditions") or []) if isinstance(rule, dict) else []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if isinstance(failure_policy, dict) else "TerminatingOrFailed"
    default_pod_template(ensure_dict(spec, "template"))


def default_job(obj: dict[str, Any]) -> None:
    meta = ensure_dict(obj, "metadata")
    spec = ensure_dict(obj, "spec")
    default_job_spec(spec)
    template_meta = ensure_dict(ensure_dict(spec, "template"), "metadata")
    if template_meta.get("labels") and not meta.get("labels"):
        meta["labels"] = dict(template_meta["labels"])
    uid, name = get_str(meta, "uid"), get_str(meta, "name")
    if spec.get("manualSelector") is not True and uid:
        labels = ensure_dict(template_meta, "labels")
        for key, value in ((_LEGACY_NAME_LABEL, name), (JOB_NAME_LABEL, name), (_LEGACY_UID_LABEL, uid),
                           (CONTROLLER_UID_LABEL, uid)):
            labels.setdefault(key, value)
        ensure_dict(ensure_dict(spec, "selector"), "matchLabels").setdefault(CONTROLLER_UID_LABEL, uid)
    if template_meta.get("labels") and not meta.get("labels"):
        meta["labels"] = dict(template_meta["labels"])


def _has_label(labels: dict[str, str], key: str, expected: str) -> list[Cause]:
    path = c.key("spec.template.metadata.labels", key)
    if key not in labels:
        return [c.required(path, f"must be '{expected}'")]
    if labels[key] != expected:
        return [c.invalid(path, c.go_map(labels), f"must be '{expected}'")]
    return []


def _generated_selector(obj: dict[str, Any]) -> list[Cause]:
    spec = get_dict(obj, "spec")
    if spec.get("manualSelector") is True or not isinstance(spec.get("selector"), dict):
        return []
    meta = get_dict(obj, "metadata")
    uid, name = get_str(meta, "uid"), get_str(meta, "name")
    out: list[Cause] = []
    if not uid:
        out.append(c.required("metadata.uid"))
    labels = str_map(get_dict(get_dict(spec, "template"), "metadata"), "labels")
    for key, expected in ((_LEGACY_UID_LABEL, uid), (_LEGACY_NAME_LABEL, name), (CONTROLLER_UID_LABEL, uid),
                          (JOB_NAME_LABEL, name)):
        out += _has_label(labels, key, expected)
    expected_labels = {CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name, _LEGACY_UID_LABEL: uid, _LEGACY_NAME_LABEL: name}
    if selector_matches(spec["selector"], expected_labels) is False:
        out.append(c.invalid("spec.selector", go_label_selector(spec["selector"]), "`selector` not auto-generated"))
    return out


def validate_job_spec(spec: dict[str, Any], path: str) -> list[Cause]:
    """``validateJobSpec`` (shared with CronJob job templates)."""
    out = nonnegative(spec, "parallelism", path)
    out += nonnegative(spec, "completions", path)
    for name in ("activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        out += nonnegative(spec, name, path)
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            out.append(c.not_supported(c.child(path, "completionMode"), mode, ("NonIndexed", "Indexed")))
        if mode == "Indexed":
            if spec.get("completions") is None:
                out.append(c.required(c.child(path, "completions"), "when completion mode is Indexed"))
            parallelism = get_int(spec, "parallelism")
            if parallelism is not None and parallelism > _MAX_INDEXED_PARALLELISM:
                out.append(c.invalid(c.child(path, "parallelism"), parallelism,
                                     f"must be less than or equal to {_MAX_INDEXED_PARALLELISM} when completion mode is Indexed"))
    if spec.get("backoffLimitPerIndex") is not None:
        out += nonnegative(spec, "backoffLimitPerIndex", path)
        if mode != "Indexed":
            out.append(c.forbidden(c.child(path, "backoffLimitPerIndex"), "requires indexed completion mode"))
    failure_policy = spec.get("podFailurePolicy")
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        if isinstance(failure_policy, dict):
            if replacement != "Failed":
                out.append(c.not_supported(c.child(path, "podReplacementPolicy"), replacement, ("Failed",)))
        elif replacement not in ("Failed", "TerminatingOrFailed"):
            out.append(c.not_supported(c.child(path, "podReplacementPolicy"), replacement, ("Failed", "TerminatingOrFailed")))
    template_path = c.child(path, "template")
    out += validate_pod_template_spec(spec.get("template"), template_path)
    restart = get_str(get_dict(get_dict(spec, "template"), "spec"), "restartPolicy")
    restart_path = c.child(template_path, "spec", "restartPolicy")
    if restart in ("Always", ""):
        out.append(c.required(restart_path, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        out.append(c.not_supported(restart_path, restart, ("OnFailure", "Never")))
    elif isinstance(failure_policy, dict) and restart != "Never":
        out.append(c.invalid(restart_path, restart, 'only "Never" is supported when podFailurePolicy is specified'))
    return out


def _validate_job_full_spec(spec: dict[str, Any]) -> list[Cause]:
    out = validate_job_spec(spec, "spec")
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        out.append(c.required("spec.selector"))
        return out
    out += validate_label_selector(selector, "spec.selector")
    labels = str_map(get_dict(get_dict(spec, "template"), "metadata"), "labels")
    if selector_matches(selector, labels) is False:
        out.append(c.invalid("spec.template.metadata.labels", c.go_map(labels),
                             "`selector` does not match template `labels`"))
    return out


def _template_update(spec: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    old_spec = get_dict(old, "spec")
    template = copy.deepcopy(spec.get("template"))
    old_template = copy.deepcopy(old_spec.get("template"))
    never_started = old_spec.get("suspend") is True and not get_dict(old, "status").get("startTime")
    if never_started and isinstance(template, dict) and isinstance(old_template, dict):
        for holder, fields in (("metadata", ("labels", "annotations")),
                               ("spec", ("nodeSelector", "tolerations", "schedulingGates"))):
            for name in fields:
                for t in (template, old_template):
                    get_dict(t, holder).pop(name, None)
        for t in (template, old_template):
            get_dict(get_dict(t, "spec"), "affinity").pop("nodeAffinity", None)
    if normalize(template) != normalize(old_template):
        return [c.immutable("spec.template", spec.get("template"))]
    return []


def validate_job(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    if old is None:
        return _generated_selector(obj) + _validate_job_full_spec(spec)
    out = _validate_job_full_spec(spec)
    old_spec = get_dict(old, "spec")
    completions, old_completions = spec.get("completions"), old_spec.get("completions")
    if completions != old_completions:
        if spec.get("completionMode") != "Indexed":
            out.append(c.immutable("spec.completions", completions))
        elif completions is not None and completions != spec.get("parallelism"):
            out.append(c.invalid("spec.completions", completions, "can only be modified in tandem with spec.parallelism"))
    if normalize(spec.get("selector")) != normalize(old_spec.get("selector")):
        out.append(c.immutable("spec.selector", go_label_selector(spec.get("selector"))))
    out += _template_update(spec, old)
    for name in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        if normalize(spec.get(name)) != normalize(old_spec.get(name)):
            out.append(c.immutable(c.child("spec", name), spec.get(name)))
    return out


# -- CronJob -----------------------------------------------------------------------------


def default_cronjob(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if not get_str(spec, "concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_spec = ensure_dict(ensure_dict(spec, "jobTemplate"), "spec")
    default_pod_template(ensure_dict(job_spec, "template"))


def _time_zone(zone: Any) -> list[Cause]:
    if zone is None:
        return []
    if not isinstance(zone, str) or not zone:
        return [c.invalid("spec.timeZone", zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not part or len(part) > 14 or not all(
                ch.isascii() and (ch.isalnum() or ch in ".-_+") for ch in part):
            return [c.invalid("spec.timeZone", zone, f"unknown time zone {zone}")]
    if zone.lower() == "local":
        return [c.invalid("spec.timeZone", zone,
                          "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")]
    error = time_zone_error(zone)
    return [c.invalid("spec.timeZone", zone, error)] if error else []


def validate_cronjob(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    old_spec = get_dict(old, "spec") if old is not None else None
    out: list[Cause] = []
    name = get_str(get_dict(obj, "metadata"), "name")
    if old is None and len(name) > 52:
        out.append(c.invalid("metadata.name", name, "must be no more than 52 characters"))
    schedule = get_str(spec, "schedule")
    if not schedule:
        out.append(c.required("spec.schedule"))
    else:
        error = schedule_error(schedule)
        if error:
            out.append(c.invalid("spec.schedule", schedule, error))
        allow_tz = old_spec is not None and "TZ" in get_str(old_spec, "schedule")
        if allow_tz and "TZ" in schedule and spec.get("timeZone") is not None:
            out.append(c.invalid("spec.schedule", schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
        elif not allow_tz and "TZ" in schedule:
            out.append(c.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    out += nonnegative(spec, "startingDeadlineSeconds", "spec")
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        out += _time_zone(spec.get("timeZone"))
    policy = get_str(spec, "concurrencyPolicy")
    if not policy:
        out.append(c.required("spec.concurrencyPolicy"))
    elif policy not in ("Allow", "Forbid", "Replace"):
        out.append(c.not_supported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace")))
    job_template = get_dict(spec, "jobTemplate")
    template_meta = get_dict(job_template, "metadata")
    out += validate_labels(template_meta.get("labels"), "spec.jobTemplate.metadata.labels")
    out += validate_annotations(template_meta.get("annotations"), "spec.jobTemplate.metadata.annotations")
    job_spec = get_dict(job_template, "spec")
    out += validate_job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        out.append(c.invalid("spec.jobTemplate.spec.selector", go_label_selector(job_spec["selector"]),
                             "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        out.append(c.not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    out += nonnegative(spec, "successfulJobsHistoryLimit", "spec")
    out += nonnegative(spec, "failedJobsHistoryLimit", "spec")
    return out


JOB = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_job, validate=validate_job)
CRONJOB = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_cronjob, validate=validate_cronjob)
