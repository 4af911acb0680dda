"""Billing periods: a period is a calendar month in UTC, named by its first day."""

from __future__ import annotations

import calendar
import datetime as dt
import re

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def days_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def month_end(day: dt.date) -> dt.date:
    """The last day of the month that contains `day` (inclusive end)."""
    return day.replace(day=days_in_month(day))


def next_month(day: dt.date) -> dt.date:
    start = month_start(day)
    return (start + dt.timedelta(days=32)).replace(day=1)


def previous_month(day: dt.date) -> dt.date:
    return month_start(month_start(day) - dt.timedelta(days=1))


def parse_period(value: str) -> dt.date:
    """Parse `YYYY-MM` or `YYYY-MM-DD` into the first day of that month.

    A full date must be the first of its month: a period is named by its first day.
    Raises ValueError with a message fit for an API error.
    """
    match = _PERIOD_RE.match((value or "").strip())
    if not match:
        raise ValueError(f"{value!r} is not a period; use YYYY-MM or YYYY-MM-01")
    year, month, day = int(match[1]), int(match[2]), int(match[3] or 1)
    try:
        parsed = dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date") from exc
    if parsed.day != 1:
        raise ValueError(f"{value!r} is not the first day of a month; a period is named by it")
    return parsed


def iter_days(start: dt.date, end: dt.date):
    """Every day from start to end, both inclusive."""
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a UTC day as aware datetimes."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)
