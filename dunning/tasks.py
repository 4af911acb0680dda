"""Celery tasks of the dunning app (the default queue)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError

from arcadia_cloud.clock import utc_today
from dunning.infrastructure import infrastructure_actions_advance
from dunning.services import dunning_invoice_settled, dunning_run


@shared_task(
    name="dunning.run_daily",
    time_limit=60 * 60,
    soft_time_limit=55 * 60,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    max_retries=3,
)
def run_daily(day_iso: str | None = None) -> dict:
    """Apply the day's dunning steps (default: today, UTC). Each step once: re-running the day,
    a retry or a second worker finds the steps already recorded."""
    day = dt.date.fromisoformat(day_iso) if day_iso else utc_today()
    return dunning_run(today=day).as_dict()


@shared_task(name="dunning.invoice_settled", time_limit=10 * 60, soft_time_limit=9 * 60)
def invoice_settled(invoice_id: int, actor: str = "system") -> dict:
    """Queued by invoicing's settle hook when an invoice is paid: reinstate what dunning moved."""
    return dunning_invoice_settled(invoice_id=invoice_id, actor=actor).as_dict()


@shared_task(
    name="dunning.advance_infrastructure_actions", time_limit=10 * 60, soft_time_limit=9 * 60
)
def advance_infrastructure_actions() -> dict:
    """Send confirmed power actions, follow the in-progress ones, retry failed ones."""
    return infrastructure_actions_advance()
