"""Celery tasks of the invoicing app (queues by name in arcadia_cloud.celery.TASK_ROUTES:
`invoicing.meter*` → metering)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from invoicing.services.metering import meter_day as meter_one_day
from invoicing.services.metering import usage_records_purge_expired


def yesterday_utc() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)


@shared_task(
    name="invoicing.meter_day",
    time_limit=60 * 60,
    soft_time_limit=55 * 60,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=3,
)
def meter_day(day_iso: str | None = None) -> dict:
    """Meter one UTC day (default: yesterday, the last complete day). Idempotent by the unique
    indexes, so a retry or a second delivery changes nothing; retried only when the database
    was unreachable."""
    day = dt.date.fromisoformat(day_iso) if day_iso else yesterday_utc()
    return meter_one_day(day).as_dict()


@shared_task(name="invoicing.meter_purge_expired", time_limit=60 * 60, soft_time_limit=55 * 60)
def meter_purge_expired() -> int:
    """Delete usage rows past their kind's retention. No retry: tomorrow's run catches up."""
    return usage_records_purge_expired()
