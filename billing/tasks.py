"""Celery tasks of the billing app (queue cloud_billing, routed by name in
arcadia_cloud.celery.TASK_ROUTES). Thin: take ids, call one service, own the retry policy.

Without a DigitalOcean billing token (DO_TOKEN_BILLING, else DO_API_TOKEN) the DigitalOcean
tasks log one line and succeed: an unconfigured installation is not an error.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task

from billing.selectors import invoice_get
from billing.services import (
    DailyCostsRejected,
    FinanceUnavailable,
    InvoiceRejected,
    balance_snapshot_fetch,
    billing_account_urn,
    billing_history_sync,
    daily_costs_ingest,
    daily_default_range,
    finance_push,
    invoice_ingest,
)
from integrations.digitalocean import DigitalOceanClient, DORateLimited, DOServerError, client_for

logger = logging.getLogger(__name__)

NO_TOKEN = "no DigitalOcean billing token configured"
NO_ACCOUNT_URN = "no DigitalOcean billing account URN configured (DO_BILLING_ACCOUNT_URN)"
DO_RETRY = {
    "autoretry_for": (DORateLimited, DOServerError),
    "retry_backoff": 60,
    "retry_backoff_max": 900,
    "retry_jitter": True,
    "max_retries": 4,
}


def _billing_client(task: str) -> DigitalOceanClient | None:
    client = client_for("billing")
    if client is None:
        logger.warning("%s: %s (DO_TOKEN_BILLING, DO_API_TOKEN): nothing done", task, NO_TOKEN)
    return client


@shared_task(name="billing.snapshot_balance", time_limit=300, soft_time_limit=240, **DO_RETRY)
def snapshot_balance() -> dict[str, Any]:
    """Hourly: store DigitalOcean's month-to-date balance."""
    client = _billing_client("billing.snapshot_balance")
    if client is None:
        return {"skipped": NO_TOKEN}
    snapshot = balance_snapshot_fetch(client=client)
    return {"id": snapshot.pk, "month_to_date_balance": str(snapshot.month_to_date_balance)}


@shared_task(name="billing.sync_billing_history", time_limit=600, soft_time_limit=540, **DO_RETRY)
def sync_billing_history() -> dict[str, Any]:
    """Daily: upsert invoice headers and queue the ingest of each one not yet ingested."""
    client = _billing_client("billing.sync_billing_history")
    if client is None:
        return {"skipped": NO_TOKEN}
    result = billing_history_sync(client=client)
    return {"created": result.created, "updated": result.updated, "to_ingest": result.to_ingest}


@shared_task(
    name="billing.ingest_invoice",
    time_limit=1800,
    soft_time_limit=1700,
    acks_late=True,
    **DO_RETRY,
)
def ingest_invoice(invoice_uuid: str) -> dict[str, Any]:
    """Ingest one invoice (idempotent: its line set is replaced, never duplicated).

    DigitalOcean 429 / 5xx are retried with backoff. A file that cannot be taken (malformed,
    not UTF-8, too large, not adding up to DigitalOcean's amount) is not: the same file would
    fail again. It is recorded on the invoice and reported here, without a traceback. Anything
    else (other DigitalOcean errors, the database, a bug) is recorded by the service too, and
    fails the task as it came.
    """
    client = _billing_client("billing.ingest_invoice")
    if client is None:
        return {"invoice_uuid": invoice_uuid, "skipped": NO_TOKEN}
    invoice = invoice_get(invoice_uuid=invoice_uuid)
    try:
        result = invoice_ingest(invoice=invoice, client=client)
    except InvoiceRejected as exc:
        return {"invoice_uuid": invoice_uuid, "status": "failed", "error": exc.message}
    return {
        "invoice_uuid": invoice_uuid,
        "status": "ingested",
        "lines": result.line_count,
        "matched": result.matched,
        "unmatched": result.unmatched,
        "ambiguous": result.ambiguous,
    }


@shared_task(
    name="billing.push_to_finance",
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(FinanceUnavailable,),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
)
def push_to_finance(invoice_uuid: str, force: bool = False) -> dict[str, Any]:
    """Push one ingested invoice to finance; unchanged payloads are not re-sent unless
    `force`. Finance 5xx / timeouts retry with backoff; a 4xx is stored, not retried."""
    result = finance_push(invoice=invoice_get(invoice_uuid=invoice_uuid), force=force)
    return {
        "invoice_uuid": invoice_uuid,
        "status": result.status,
        "finance_invoice_id": result.finance_invoice_id,
        "detail": result.detail,
    }


@shared_task(
    name="billing.ingest_daily_costs",
    time_limit=1800,
    soft_time_limit=1700,
    acks_late=True,
    **DO_RETRY,
)
def ingest_daily_costs(start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """Nightly (and from the admin's re-ingest): replace the days [start, end] (ISO dates;
    default: the month of yesterday through yesterday) of DigitalOcean's daily costs.

    DigitalOcean 429 / 5xx are retried with backoff. Data points that cannot be taken are not
    (the same answer would fail again): recorded on the days and reported here. A bad range is
    a caller error, raised as it came."""
    client = _billing_client("billing.ingest_daily_costs")
    if client is None:
        return {"skipped": NO_TOKEN}
    if not billing_account_urn():
        logger.warning("billing.ingest_daily_costs: %s: nothing done", NO_ACCOUNT_URN)
        return {"skipped": NO_ACCOUNT_URN}
    first, last = daily_default_range()
    first = dt.date.fromisoformat(start) if start else first
    last = dt.date.fromisoformat(end) if end else last
    try:
        result = daily_costs_ingest(client=client, start=first, end=last)
    except DailyCostsRejected as exc:
        return {"start": str(first), "end": str(last), "status": "failed", "error": exc.message}
    return {
        "start": str(first),
        "end": str(last),
        "status": "ingested",
        "days": result.days,
        "rows": result.rows,
        "matched": result.matched,
        "amount": str(result.amount),
    }
