"""Celery tasks of the invoicing app (queues by name in arcadia_cloud.celery.TASK_ROUTES:
`invoicing.meter*` → metering, the rollup → default)."""

from __future__ import annotations

import datetime as dt
from smtplib import SMTPException

from celery import shared_task
from django.db import InterfaceError, OperationalError

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import parse_period, previous_month
from billing.services import FinanceUnavailable
from invoicing.documents.email import document_email_send
from invoicing.invoices.rollup.fanout import rollup_chunk_complete, rollup_run_start
from invoicing.receivables.services import receivable_push
from invoicing.usage.measured import measured_usage_catch_up
from invoicing.usage.metering import meter_after_sync_failures, usage_records_purge_expired
from invoicing.usage.metering import meter_day as meter_one_day


def yesterday_utc() -> dt.date:
    return utc_today() - dt.timedelta(days=1)


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
    result = meter_one_day(day).as_dict()
    if not day_iso:  # the daily run also meters measurements that arrived late
        result["measured_catch_up"] = measured_usage_catch_up(day=day).as_dict()
        # ... and the resources skipped on recent days while their sync was failing.
        caught_up = meter_after_sync_failures(day=day)
        if caught_up is not None:
            result["sync_catch_up"] = caught_up.as_dict()
    return result


@shared_task(name="invoicing.meter_purge_expired", time_limit=60 * 60, soft_time_limit=55 * 60)
def meter_purge_expired() -> int:
    """Delete usage rows past their kind's retention. No retry: tomorrow's run catches up."""
    return usage_records_purge_expired()


def last_month_utc() -> dt.date:
    return previous_month(utc_today())


@shared_task(
    name="invoicing.roll_up_period",
    time_limit=10 * 60,
    soft_time_limit=9 * 60,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=300,
    retry_backoff_max=1800,
    max_retries=3,
)
def roll_up_period(
    period_iso: str | None = None, force: bool = False, chunk_size: int | None = None
) -> dict:
    """Invoice a month (`YYYY-MM` or `YYYY-MM-01`; default: the month just ended, UTC), fanned
    out over the workers: the tenants are split into chunks of `chunk_size` (default
    ROLLUP_CHUNK_SIZE), one `invoicing.roll_up_chunk` task each; the last chunk to finish
    writes the run's report (`RollupRun.report`).

    Returns the run's report when it is already finished (no broker: the chunks ran in-process),
    else the run's id and size. Idempotent: tenants already invoiced are skipped, so a retry
    (or a second run) only finishes what is missing.
    """
    period_start = parse_period(period_iso) if period_iso else last_month_utc()
    run = rollup_run_start(
        period_start, force=force, chunk_size=chunk_size, actor="task:invoicing.roll_up_period"
    )
    run.refresh_from_db()
    if run.report is not None:
        return {"run": run.pk, **run.report}
    return {"run": run.pk, "chunks": run.chunks_total, "tenants": run.tenants_total}


@shared_task(
    name="invoicing.roll_up_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=3 * 60 * 60,
    soft_time_limit=170 * 60,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=5,
)
def roll_up_chunk(chunk_id: int) -> dict:
    """Roll up one chunk of a fanned-out run. `acks_late`: a worker that dies mid-chunk never
    acknowledges it, so the broker redelivers it to another worker; any delivery of a chunk
    writes each tenant's invoice at most once (one transaction and lock per tenant)."""
    return rollup_chunk_complete(chunk_id)


@shared_task(
    name="invoicing.push_receivable",
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(FinanceUnavailable,),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
)
def push_receivable(push_id: int, force: bool = False) -> dict:
    """Push one issued invoice or adjustment note to finance as a receivable (idempotent:
    finance upserts on the number; a payload it has is not re-sent). 5xx / timeouts retry with
    backoff; a 4xx is stored for *Push again*, not retried."""
    push = receivable_push(push_id=push_id, force=force)
    return {"external_id": push.external_id, "status": push.status, "error": push.last_error}


@shared_task(
    name="invoicing.email_document",
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(OSError, SMTPException),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=5,
)
def email_document(email_id: int) -> dict:
    """Email one issued document's PDF; a mail server that is down is retried with backoff."""
    email = document_email_send(email_id=email_id)
    return {"email_id": email.pk, "status": email.status, "to": email.recipients}
