"""Celery tasks of the drift app (queue by name in arcadia_cloud.celery.TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from drift.services import drift_detect_all


@shared_task(name="drift.detect_all", time_limit=30 * 60, soft_time_limit=25 * 60)
def detect_all() -> dict[str, int]:
    """The hourly sweep. No retry: it is idempotent and the next hour's run catches up."""
    return drift_detect_all().as_dict()
