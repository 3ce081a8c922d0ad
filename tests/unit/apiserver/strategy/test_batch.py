"""Job and CronJob defaults, generated selectors, validation and schedules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.apiserver.strategy.cron import schedule_error, time_zone_error

from . import UID, causes_of, container, defaulted, job, run

GENERATED = {"batch.kubernetes.io/controller-uid": UID, "batch.kubernetes.io/job-name": "pi",
             "controller-uid": UID, "job-name": "pi"}


def test_job_defaults_and_generated_selector() -> None:
    obj = defaulted("Job", job())
    spec = obj["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert spec["template"]["metadata"]["labels"] == GENERATED
    assert obj["metadata"]["labels"] == GENERATED  # no user labels: the Job takes the template's
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert "manualSelector" not in spec
    assert defaulted("Job", obj) == obj


def test_job_defaults_keep_user_choices() -> None:
    obj = job(parallelism=3, template={"metadata": {"labels": {"app": "pi"}},
                                       "spec": {"containers": [container()], "restartPolicy": "OnFailure"}})
    out = defaulted("Job", obj)
    assert out["spec"]["parallelism"] == 3 and "completions" not in out["spec"]
    assert out["metadata"]["labels"] == {"app": "pi"}  # copied before the generated labels are added
    assert out["spec"]["template"]["metadata"]["labels"] == {"app": "pi", **GENERATED}
    failure = defaulted("Job", job(podFailurePolicy={"rules": [{"action": "Ignore", "onPodConditions": [
        {"type": "DisruptionTarget"}]}]}))["spec"]
    assert failure["podReplacementPolicy"] == "Failed"
    assert failure["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"
    assert defaulted("Job", job(backoffLimitPerIndex=1))["spec"]["backoffLimit"] == 2**31 - 1


def test_manual_selector_is_not_generated() -> None:
    obj = job(manualSelector=True, selector={"matchLabels": {"app": "pi"}},
              template={"metadata": {"labels": {"app": "pi"}}, "spec": {"containers": [container()],
                                                                       "restartPolicy": "Never"}})
    out = defaulted("Job", obj)
    assert out["spec"]["selector"] == {"matchLabels": {"app": "pi"}}
    assert out["spec"]["template"]["metadata"]["labels"] == {"app": "pi"}
    assert run("Job", obj) == []


JOB_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"template": {"spec": {"containers": [container()]}}}, "spec.template.spec.restartPolicy",
     'Required value: valid values: "OnFailure", "Never"'),
    ({"template": {"spec": {"containers": [container()], "restartPolicy": "Sometimes"}}},
     "spec.template.spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", '
     '"Never"'),
    ({"template": {"spec": {"containers": [container()], "restartPolicy": "OnFailure"}},
      "podFailurePolicy": {"rules": []}},
     "spec.template.spec.restartPolicy", 'Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy '
     "is specified"),
    ({"parallelism": -1}, "spec.parallelism", "Invalid value: -1: must be greater than or equal to 0"),
    ({"completions": -1}, "spec.completions", "Invalid value: -1: must be greater than or equal to 0"),
    ({"backoffLimit": -1}, "spec.backoffLimit", "Invalid value: -1: must be greater than or equal to 0"),
    ({"activeDeadlineSeconds": -1}, "spec.activeDeadlineSeconds", "Invalid value: -1: must be greater than or equal to 0"),
    ({"ttlSecondsAfterFinished": -1}, "spec.ttlSecondsAfterFinished",
     "Invalid value: -1: must be greater than or equal to 0"),
    ({"completionMode": "Sometimes"}, "spec.completionMode",
     'Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"'),
    ({"completionMode": "Indexed", "completions": None, "parallelism": 2}, "spec.completions",
     "Required value: when completion mode is Indexed"),
    ({"podReplacementPolicy": "Never"}, "spec.podReplacementPolicy",
     'Unsupported value: "Never": supported values: "Failed", "TerminatingOrFailed"'),
    ({"selector": {"matchLabels": {"app": "other"}}}, "spec.template.metadata.labels", None),
]


@pytest.mark.parametrize(("spec", "field", "message"), JOB_CASES)
def test_job_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    obj = job(**spec)
    for key in [k for k, v in spec.items() if v is None]:
        del obj["spec"][key]
    causes = run("Job", obj)
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_generated_selector_checks() -> None:
    assert run("Job", job()) == []
    no_uid = job(uid="")
    assert causes_of(run("Job", no_uid), "spec.selector") == ["Required value"]
    tampered = job(template={"metadata": {"labels": {"job-name": "other"}},
                             "spec": {"containers": [container()], "restartPolicy": "Never"}})
    assert causes_of(run("Job", tampered), "spec.template.metadata.labels[job-name]") == [
        f'Invalid value: map[string]string{{"batch.kubernetes.io/controller-uid":"{UID}", '
        f'"batch.kubernetes.io/job-name":"pi", "controller-uid":"{UID}", "job-name":"other"}}: must be \'pi\'']
    wrong_uid = job(selector={"matchLabels": {"batch.kubernetes.io/controller-uid": "other"}})
    assert any("`selector` not auto-generated" in m for m in causes_of(run("Job", wrong_uid), "spec.selector"))


def test_job_update_rules() -> None:
    old = defaulted("Job", job())
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 4
    new["spec"]["suspend"] = True
    new["spec"]["activeDeadlineSeconds"] = 100
    assert run("Job", new, old) == []
    template = copy.deepcopy(old)
    template["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox"
    found = causes_of(run("Job", template, old), "spec.template")
    assert len(found) == 1 and found[0].startswith("Invalid value: {") and found[0].endswith(": field is immutable")
    completions = copy.deepcopy(old)
    completions["spec"]["completions"] = 5
    assert causes_of(run("Job", completions, old), "spec.completions") == ["Invalid value: 5: field is immutable"]
    selector = copy.deepcopy(old)
    selector["spec"]["selector"]["matchLabels"]["x"] = "y"
    selector["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert causes_of(run("Job", selector, old), "spec.selector")[0].endswith("field is immutable")
    mode = copy.deepcopy(old)
    mode["spec"]["completionMode"] = "Indexed"
    assert causes_of(run("Job", mode, old), "spec.completionMode") == ['Invalid value: "Indexed": field is immutable']


def test_suspended_job_scheduling_directives_are_mutable() -> None:
    old = defaulted("Job", job(suspend=True))
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    new["spec"]["template"]["metadata"]["annotations"] = {"a": "b"}
    assert run("Job", new, old) == []
    started = copy.deepcopy(old)
    started["status"] = {"startTime": "2024-01-01T00:00:00Z"}
    assert causes_of(run("Job", new, started), "spec.template")


def test_indexed_completions_change_in_tandem() -> None:
    old = defaulted("Job", job(completionMode="Indexed", completions=3, parallelism=3))
    new = copy.deepcopy(old)
    new["spec"]["completions"] = new["spec"]["parallelism"] = 5
    assert run("Job", new, old) == []
    lone = copy.deepcopy(old)
    lone["spec"]["completions"] = 5
    assert causes_of(run("Job", lone, old), "spec.completions") == [
        "Invalid value: 5: can only be modified in tandem with spec.parallelism"]


# -- CronJob ---------------------------------------------------------------------------


def cronjob(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [container()], "restartPolicy": "OnFailure"}}}}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
            "spec": body}


def test_cronjob_defaults() -> None:
    spec = defaulted("CronJob", cronjob())["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1
    job_spec = spec["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "backoffLimit" not in job_spec  # job-level defaults apply to Jobs, not to templates
    assert run("CronJob", cronjob()) == []


CRON_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"schedule": ""}, "spec.schedule", "Required value"),
    ({"schedule": "* * * *"}, "spec.schedule", 'Invalid value: "* * * *": expected exactly 5 fields, found 4: [* * * *]'),
    ({"schedule": "61 * * * *"}, "spec.schedule",
     'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
    ({"schedule": "TZ=UTC 0 * * * *"}, "spec.schedule",
     'Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead'),
    ({"timeZone": "Mars/Olympus"}, "spec.timeZone", 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
    ({"timeZone": "Local"}, "spec.timeZone",
     'Invalid value: "Local": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones'),
    ({"timeZone": ""}, "spec.timeZone", 'Invalid value: "": timeZone must be nil or non-empty string'),
    ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy",
     'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'),
    ({"startingDeadlineSeconds": -1}, "spec.startingDeadlineSeconds",
     "Invalid value: -1: must be greater than or equal to 0"),
    ({"successfulJobsHistoryLimit": -1}, "spec.successfulJobsHistoryLimit",
     "Invalid value: -1: must be greater than or equal to 0"),
    ({"jobTemplate": {"spec": {"template": {"spec": {"containers": [container()]}}}}},
     "spec.jobTemplate.spec.template.spec.restartPolicy", 'Required value: valid values: "OnFailure", "Never"'),
    ({"jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {
        "containers": [container()], "restartPolicy": "Never"}}}}}, "spec.jobTemplate.spec.selector",
     'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"a":"b"}, '
     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be auto-generated"),
    ({"jobTemplate": {"spec": {"manualSelector": True, "template": {"spec": {
        "containers": [container()], "restartPolicy": "Never"}}}}}, "spec.jobTemplate.spec.manualSelector",
     'Unsupported value: true: supported values: "nil", "false"'),
]


@pytest.mark.parametrize(("spec", "field", "message"), CRON_CASES)
def test_cronjob_rule(spec: dict[str, Any], field: str, message: str) -> None:
    causes = run("CronJob", cronjob(**spec))
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]


def test_cronjob_valid_time_zone_and_tz_update() -> None:
    assert run("CronJob", cronjob(timeZone="Europe/Paris")) == []
    old = defaulted("CronJob", cronjob(schedule="CRON_TZ=UTC 0 * * * *"))
    assert run("CronJob", old, old) == []  # a stored TZ schedule stays accepted
    with_zone = copy.deepcopy(old)
    with_zone["spec"]["timeZone"] = "UTC"
    assert causes_of(run("CronJob", with_zone, old), "spec.schedule") == [
        'Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use both timeZone field and TZ or CRON_TZ in schedule']


@pytest.mark.parametrize(("schedule", "error"), [
    ("*/15 * * * *", ""),
    ("0 9 * * MON-FRI", ""),
    ("0 0 1 jan,jul ?", ""),
    ("@hourly", ""),
    ("@every 1h30m", ""),
    ("@every forever", 'failed to parse duration @every forever: time: invalid duration "forever"'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("", "empty spec string"),
    ("TZ=Nowhere/City * * * * *", "provided bad location Nowhere/City: unknown time zone Nowhere/City"),
])
def test_schedule_parser(schedule: str, error: str) -> None:
    assert schedule_error(schedule) == error


def test_time_zones() -> None:
    assert time_zone_error("America/New_York") == ""
    assert time_zone_error("Nowhere/City") == "unknown time zone Nowhere/City"
