"""Inventory tasks (queue cloud_sync_full): thin wrappers around inventory.sync and
inventory.measurements."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

from arcadia_cloud.clock import utc_today
from integrations.digitalocean import DORateLimited, DOServerError, client_for
from integrations.spaces import spaces_client
from inventory import measurements
from inventory.measurements import BANDWIDTH_METRIC, SPACES_METRIC
from inventory.sync import SYNC_TARGETS, sync_target

logger = logging.getLogger(__name__)


@shared_task(
    name="inventory.sync",
    time_limit=1800,
    soft_time_limit=1700,
    acks_late=True,
    autoretry_for=(DORateLimited, DOServerError),
    retry_backoff=60,
    retry_backoff_max=600,
    max_retries=3,
)
def sync(target: str) -> dict:
    """Sync one target (a resource kind, `backups` or `projects`). Idempotent: re-running with
    nothing changed writes no events; a run that fails part-way adds no strikes."""
    client = client_for("sync")
    if client is None:
        logger.warning(
            "inventory sync %s: no DigitalOcean token (DO_TOKEN_SYNC, DO_API_TOKEN): nothing done",
            target,
        )
        return {"target": target, "skipped": "no DigitalOcean token configured"}
    result = sync_target(target, client=client, provisioning_client=client_for("provisioning"))
    logger.info("inventory sync %s", result.summary())
    return result.as_dict()


@shared_task(name="inventory.sync_all", time_limit=3600, soft_time_limit=3500)
def sync_all() -> list[str]:
    """Enqueue every sync target (each runs, retries and locks on its own)."""
    for target in SYNC_TARGETS:
        sync.delay(target)
    return list(SYNC_TARGETS)


def _yesterday() -> dt.date:
    return utc_today() - dt.timedelta(days=1)


@shared_task(name="inventory.measure_spaces", time_limit=3600, soft_time_limit=3500)
def measure_spaces(day_iso: str | None = None) -> dict:
    """Measure every Spaces bucket's size as the size of `day` (default: yesterday, the day
    that just ended). Without Spaces keys: one log line, nothing measured."""
    day = dt.date.fromisoformat(day_iso) if day_iso else _yesterday()
    client = spaces_client()
    if client is None:
        logger.warning(
            "spaces measurement %s: no Spaces keys (SPACES_ACCESS_KEY_ID, "
            "SPACES_SECRET_ACCESS_KEY): nothing measured",
            day,
        )
        return {"metric": SPACES_METRIC, "skipped": "no Spaces keys configured"}
    return measurements.measure_spaces(client=client, day=day).as_dict()


@shared_task(name="inventory.measure_bandwidth", time_limit=3600, soft_time_limit=3500)
def measure_bandwidth(day_iso: str | None = None, through_slice: int | None = None) -> dict:
    """One hourly slice of a day's droplet bandwidth (`measurements.measure_bandwidth_slice`).
    Scheduled every hour without arguments: yesterday, through the slice of the current UTC
    hour. Given a day without a slice: every slice of it at once (a manual catch-up)."""
    if day_iso:
        day = dt.date.fromisoformat(day_iso)
        through = measurements.LAST_SLICE if through_slice is None else int(through_slice)
    else:
        day = _yesterday()
        through = (
            timezone.now().astimezone(dt.UTC).hour if through_slice is None else int(through_slice)
        )
    client = client_for("sync")
    if client is None:
        logger.warning(
            "bandwidth measurement %s: no DigitalOcean token (DO_TOKEN_SYNC, DO_API_TOKEN): "
            "nothing measured",
            day,
        )
        return {"metric": BANDWIDTH_METRIC, "skipped": "no DigitalOcean token configured"}
    return measurements.measure_bandwidth_slice(
        client=client, day=day, through_slice=through
    ).as_dict()
