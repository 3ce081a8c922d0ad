"""CronJob schedule and time-zone checks, worded like ``robfig/cron`` and Go's ``time``.

Kubernetes validates ``spec.schedule`` with ``cron.ParseStandard``: five fields (minute,
hour, day of month, month, day of week, with names such as ``MON`` and ``JAN``), or a
descriptor (``@hourly``, ``@daily``, ``@every 90m``...). :func:`schedule_error` returns the
parser's message for a bad schedule (``expected exactly 5 fields, found 4: [* * * *]``,
``end of range (61) above maximum (59): 61``) or ``""``; standard schedules are also checked
with :mod:`croniter`, which the CronJob controller uses to compute run times.
:func:`time_zone_error` is ``time.LoadLocation``'s verdict through :mod:`zoneinfo`.

Pure; called by :mod:`gitkube.apiserver.strategy.batch`.
"""

from __future__ import annotations

import re
import zoneinfo

from croniter import croniter

__all__ = ["schedule_error", "time_zone_error"]

_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_MONTHS = {n: i + 1 for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS),
)
_GO_DURATION = re.compile(r"^[-+]?(0|(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")


def time_zone_error(name: str) -> str:
    """``""`` if ``name`` loads as a time zone, else Go's ``unknown time zone <name>``."""
    if name == "" or name == "UTC":
        return ""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name}"
    return ""


def _parse_int(expr: str) -> tuple[int, str]:
    if not re.fullmatch(r"[+-]?\d+", expr):
        return 0, f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'
    value = int(expr)
    if value < 0:
        return 0, f"negative number ({value}) not allowed: {expr}"
    return value, ""


def _parse_int_or_name(expr: str, names: dict[str, int]) -> tuple[int, str]:
    if names and expr.lower() in names:
        return names[expr.lower()], ""
    return _parse_int(expr)


def _range_error(expr: str, lo: int, hi: int, names: dict[str, int]) -> str:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start, err = _parse_int_or_name(low_high[0], names)
        if err:
            return err
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end, err = _parse_int_or_name(low_high[1], names)
            if err:
                return err
        else:
            return f"too many hyphens: {expr}"
    step = 1
    if len(range_and_step) == 2:
        step, err = _parse_int(range_and_step[1])
        if err:
            return err
        if single:
            end = hi
    elif len(range_and_step) > 2:
        return f"too many slashes: {expr}"
    if start < lo:
        return f"beginning of range ({start}) below minimum ({lo}): {expr}"
    if end > hi:
        return f"end of range ({end}) above maximum ({hi}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    if step == 0:
        return f"step of range should be a positive number: {expr}"
    return ""


def schedule_error(spec: str) -> str:
    """The ``cron.ParseStandard`` error for ``spec``, or ``""`` when it parses."""
    if not spec:
        return "empty spec string"
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        zone = spec[spec.find("=") + 1: space if space >= 0 else len(spec)]
        if time_zone_error(zone):
            return f"provided bad location {zone}: {time_zone_error(zone)}"
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            duration = spec[len("@every "):]
            if not _GO_DURATION.match(duration):
                return f'failed to parse duration {spec}: time: invalid duration "{duration}"'
            return ""
        return "" if spec in _DESCRIPTORS else f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for field, (lo, hi, names) in zip(fields, _BOUNDS, strict=True):
        for expr in field.split(","):
            error = _range_error(expr, lo, hi, names)
            if error:
                return error
    if not croniter.is_valid(" ".join(fields)):
        return f"unsupported schedule: {spec}"
    return ""
