"""CronJob schedules: when a CronJob runs, after kubernetes ``pkg/controller/cronjob/utils.go``
and ``robfig/cron``.

:func:`parse` turns ``spec.schedule`` and ``spec.timeZone`` into a :class:`Schedule`: five
cron fields and the ``@hourly``-style macros through :mod:`croniter` (evaluated in the
time zone, so daylight-saving changes are honoured), ``@every DURATION`` as a constant
delay, and the legacy ``TZ=``/``CRON_TZ=`` prefix. :func:`most_recent` is
``mostRecentScheduleTime``: the latest run time in ``(earliest, now]`` and how many were
missed. :func:`job_name` is ``NAME-<scheduled time in minutes since the epoch>``. Raises
:class:`gitkube.errors.ConfigError` for a schedule that does not parse.
Called by :mod:`gitkube.controllers.cronjob.controller`.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from croniter import croniter

from gitkube import errors

__all__ = ["Schedule", "job_name", "most_recent", "parse"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_MAX_MISSED = 100


def _go_duration(text: str) -> float:
    """Seconds in a Go duration (``90m``, ``1h30m``, ``1.5s``)."""
    pos, total = 0, 0.0
    if not text:
        raise errors.ConfigError('time: invalid duration ""')
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise errors.ConfigError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def _zone(name: str) -> dt.tzinfo:
    if name in ("", "UTC"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise errors.ConfigError(f"unknown time zone {name}") from exc


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: ``next(t)`` is the first run time strictly after ``t``."""

    expr: str
    zone: dt.tzinfo
    every: float = 0.0

    def next(self, after: dt.datetime) -> dt.datetime:
        if self.every:  # robfig's ConstantDelaySchedule: whole seconds, at least one
            return after.replace(microsecond=0) + dt.timedelta(seconds=self.every)
        start = after.astimezone(self.zone)
        nxt: dt.datetime = croniter(self.expr, start).get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)

    def last(self, first: dt.datetime, now: dt.datetime) -> dt.datetime:
        """The latest run time not after ``now``, given ``first`` (a run time, <= now)."""
        if self.every:
            steps = int((now - first).total_seconds() // self.every)
            return first + dt.timedelta(seconds=steps * self.every)
        prev: dt.datetime = croniter(self.expr, now.astimezone(self.zone)).get_prev(dt.datetime)
        nxt = self.next(prev)
        return nxt if nxt <= now else prev.astimezone(dt.UTC)


def parse(schedule: str, time_zone: str | None = None) -> Schedule:
    """The schedule of a CronJob (``spec.schedule``, ``spec.timeZone``)."""
    text = schedule.strip()
    zone_name = time_zone or ""
    if text.startswith(("TZ=", "CRON_TZ=")):
        head, _, text = text.partition(" ")
        if time_zone is None:
            zone_name = head.split("=", 1)[1]
        text = text.strip()
    zone = _zone(zone_name)
    if text.startswith("@every "):
        seconds = _go_duration(text[len("@every "):].strip())
        return Schedule(text, zone, every=float(max(1, int(seconds))))
    if text == "@midnight":
        text = "@daily"
    if not croniter.is_valid(text):
        raise errors.ConfigError(f"unparseable schedule: {schedule!r}")
    return Schedule(text, zone)


def most_recent(schedule: Schedule, earliest: dt.datetime, now: dt.datetime) -> tuple[dt.datetime | None, int]:
    """The latest run time after ``earliest`` and not after ``now`` (None if none) and how
    many run times fell in that window (counted up to 101)."""
    t = schedule.next(earliest)
    latest: dt.datetime | None = None
    missed = 0
    while t <= now:
        latest, missed = t, missed + 1
        if missed > _MAX_MISSED:  # too many to walk one by one: jump to the last one
            latest = schedule.last(t, now)
            break
        t = schedule.next(t)
    return latest, missed


def job_name(cronjob_name: str, scheduled: dt.datetime) -> str:
    """``getJobName``: the CronJob's name and the scheduled time in minutes since the epoch."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"
