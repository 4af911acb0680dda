"""Celery tasks of the deployments app: the daily end of trials and the period-end changes."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from arcadia_cloud.clock import utc_today
from deployments.services import (
    scheduled_changes_apply_due,
    trials_end_due,
    trials_notify_ending,
)


@shared_task(
    name="deployments.end_trials",
    time_limit=30 * 60,
    soft_time_limit=25 * 60,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    max_retries=3,
)
def end_trials() -> list[int]:
    """Tell tenants whose trial ends within TRIAL_ENDING_NOTICE_DAYS (`trial.ending`, once per
    trial end), then convert every trial that has ended to active (actor `system`); each once,
    even with two workers (re-checked under the deployment lock)."""
    now = timezone.now()
    within = dt.timedelta(days=settings.TRIAL_ENDING_NOTICE_DAYS)
    trials_notify_ending(now=now, within=within, actor="system")
    return trials_end_due(now=now, actor="system")


@shared_task(
    name="deployments.apply_scheduled_changes",
    time_limit=30 * 60,
    soft_time_limit=25 * 60,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    max_retries=3,
)
def apply_scheduled_changes() -> list[int]:
    """Apply the period-end changes due today (UTC) or earlier; each once."""
    return scheduled_changes_apply_due(through=utc_today(), actor="system")
