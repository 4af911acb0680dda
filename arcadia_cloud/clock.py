"""The one clock: today as a UTC date (periods, schedules and billing days are UTC)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def utc_today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()
