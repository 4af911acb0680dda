"""Catalog tasks: the daily sync of DigitalOcean's price list (issue 18), a thin wrapper."""

from __future__ import annotations

import logging

from celery import shared_task

from arcadia_cloud.clock import utc_today
from catalog.provider_prices import read_price_list
from catalog.services import provider_prices_sync
from integrations.digitalocean import DORateLimited, DOServerError, client_for

logger = logging.getLogger(__name__)


@shared_task(
    name="catalog.sync_provider_prices",
    time_limit=600,
    soft_time_limit=540,
    acks_late=True,
    autoretry_for=(DORateLimited, DOServerError),
    retry_backoff=60,
    retry_backoff_max=600,
    max_retries=3,
)
def sync_provider_prices() -> dict:
    """Read DigitalOcean's price list and bring `provider_prices` to it (unchanged: no write)."""
    client = client_for("sync")
    if client is None:
        logger.warning("price-list sync: no DigitalOcean token (DO_TOKEN_SYNC, DO_API_TOKEN)")
        return {"skipped": "no DigitalOcean token configured"}
    read = read_price_list(client)
    result = provider_prices_sync(listed=read.prices, today=utc_today(), skipped=read.skipped)
    logger.info("price-list sync: %s", result.summary())
    return result.as_dict()
