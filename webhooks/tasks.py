"""Celery tasks of the webhooks app: one attempt per task run; the sweep sends what is due."""

from __future__ import annotations

from celery import shared_task

from webhooks.services import webhook_deliveries_due, webhook_delivery_attempt


@shared_task(name="webhooks.deliver", time_limit=120, soft_time_limit=100)
def deliver(delivery_id: int) -> str:
    return webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.retry_due", time_limit=15 * 60, soft_time_limit=14 * 60)
def retry_due() -> dict:
    """Every pending delivery whose next attempt is due (the backoff's retries)."""
    outcomes: dict[str, int] = {}
    for delivery_id in webhook_deliveries_due():
        outcome = webhook_delivery_attempt(delivery_id=delivery_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
