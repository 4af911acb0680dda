"""The product's calendar day: days are UTC days (billing periods, start and cancel dates,
metering), whatever the server's or Django's TIME_ZONE. Not pure (it reads Django's clock, which
tests can move); the pricing kernel takes its days as arguments instead."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def utc_today() -> dt.date:
    """Today in UTC."""
    return timezone.now().astimezone(dt.UTC).date()
