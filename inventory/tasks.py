"""Inventory sync tasks (queue cloud_sync_full): thin wrappers around inventory.sync."""

from __future__ import annotations

import logging

from celery import shared_task

from integrations.digitalocean import DORateLimited, DOServerError, client_for
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
